/* Hacker's Delight p24: round up to the next power of 2 (0 for 0 and for x > 2^31). */
int p24(unsigned x) {
    unsigned o1 = x - 1;
    unsigned o2 = o1 >> 1;
    unsigned o3 = o1 | o2;
    unsigned o4 = o3 >> 2;
    unsigned o5 = o3 | o4;
    unsigned o6 = o5 >> 4;
    unsigned o7 = o5 | o6;
    unsigned o8 = o7 >> 8;
    unsigned o9 = o7 | o8;
    unsigned o10 = o9 >> 16;
    unsigned o11 = o9 | o10;
    return (int)(o11 + 1);
}
