/* Hacker's Delight p04: a mask of the rightmost 1-bit and the trailing 0s, x ^ (x - 1). */
int p04(unsigned x) {
    unsigned o1 = x - 1;
    return (int)(x ^ o1);
}
