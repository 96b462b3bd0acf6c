/* Hacker's Delight p18: 1 when the unsigned x is a power of 2, else 0. */
int p18(unsigned x) {
    unsigned o1 = x - 1;
    unsigned o2 = o1 & x;
    int o3 = x != 0;
    int o4 = o2 != 0;
    int o5 = !o4;
    return o3 && o5;
}
