/* Hacker's Delight p12: 1 when x has at most as many leading zeros as y, else 0. */
int p12(unsigned x, unsigned y) {
    unsigned o1 = ~x;
    unsigned o2 = y & o1;
    return o2 <= x;
}
