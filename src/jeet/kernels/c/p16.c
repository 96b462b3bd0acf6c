/* Hacker's Delight p16: the larger of two signed numbers, without a branch. */
int p16(int x, int y) {
    unsigned o1 = (unsigned)(x ^ y);
    unsigned o2 = 0u - (unsigned)(x >= y);
    unsigned o3 = o1 & o2;
    return (int)(o3 ^ (unsigned)y);
}
