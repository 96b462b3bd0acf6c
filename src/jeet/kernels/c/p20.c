/* Hacker's Delight p20: the next higher unsigned number with the same number of 1-bits (x != 0:
   at 0 the division traps). */
int p20(unsigned x) {
    unsigned o1 = 0u - x;
    unsigned o2 = x & o1;
    unsigned o3 = x + o2;
    unsigned o4 = x ^ o3;
    unsigned o5 = o4 >> 2;
    unsigned o6 = o5 / o2;
    return (int)(o6 | o3);
}
