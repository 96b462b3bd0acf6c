/* Hacker's Delight p06: turn on the rightmost 0-bit, x | (x + 1). */
int p06(unsigned x) {
    unsigned o1 = x + 1;
    return (int)(x | o1);
}
