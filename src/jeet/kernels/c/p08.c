/* Hacker's Delight p08: a mask of the trailing 0s, ~x & (x - 1). */
int p08(unsigned x) {
    unsigned o1 = x - 1;
    unsigned o2 = ~x;
    return (int)(o1 & o2);
}
