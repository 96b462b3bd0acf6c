/* Hacker's Delight p09: absolute value without a branch, wrapping at INT_MIN. */
int p09(int x) {
    int o1 = x >> 31;
    unsigned o2 = (unsigned)(x ^ o1);
    return (int)(o2 - (unsigned)o1);
}
