/* Hacker's Delight p11: 1 when x has fewer leading zeros than y, else 0. */
int p11(unsigned x, unsigned y) {
    unsigned o1 = ~y;
    unsigned o2 = x & o1;
    return o2 > y;
}
