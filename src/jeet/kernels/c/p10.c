/* Hacker's Delight p10: 1 when x and y have the same number of leading zeros, else 0. */
int p10(unsigned x, unsigned y) {
    unsigned o1 = x & y;
    unsigned o2 = x ^ y;
    return o2 <= o1;
}
