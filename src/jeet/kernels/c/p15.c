/* Hacker's Delight p15: ceiling of the average of two unsigned numbers, without overflow. */
int p15(unsigned x, unsigned y) {
    unsigned o1 = x | y;
    unsigned o2 = x ^ y;
    unsigned o3 = o2 >> 1;
    return (int)(o1 - o3);
}
