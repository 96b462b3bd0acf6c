/* Hacker's Delight p07: isolate the rightmost 0-bit, ~x & (x + 1). */
int p07(unsigned x) {
    unsigned o1 = ~x;
    unsigned o2 = x + 1;
    return (int)(o1 & o2);
}
