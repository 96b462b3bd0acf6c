/* Hacker's Delight p13: the sign function, -1, 0 or 1, without a branch. */
int p13(int x) {
    int o1 = x >> 31;
    unsigned o2 = 0u - (unsigned)x;
    unsigned o3 = o2 >> 31;
    return (int)((unsigned)o1 | o3);
}
