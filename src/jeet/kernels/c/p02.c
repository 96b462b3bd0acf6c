/* Hacker's Delight p02: 1 when the unsigned x is of the form 2^n - 1 (x & (x + 1) is zero), else 0. */
int p02(unsigned x) {
    unsigned o1 = x + 1;
    unsigned o2 = x & o1;
    return o2 == 0;
}
