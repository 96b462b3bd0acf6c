/* Hacker's Delight p03: isolate the rightmost 1-bit, x & -x. */
int p03(unsigned x) {
    unsigned o1 = 0u - x;
    return (int)(x & o1);
}
