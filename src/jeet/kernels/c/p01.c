/* Hacker's Delight p01: turn off the rightmost 1-bit, x & (x - 1). */
int p01(unsigned x) {
    unsigned o1 = x - 1;
    return (int)(x & o1);
}
