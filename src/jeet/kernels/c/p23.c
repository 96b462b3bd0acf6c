/* Hacker's Delight p23: number of 1-bits of x, by adding bit fields in parallel. */
int p23(unsigned x) {
    unsigned o1 = x >> 1;
    unsigned o2 = o1 & 0x55555555u;
    unsigned o3 = x - o2;
    unsigned o4 = o3 & 0x33333333u;
    unsigned o5 = o3 >> 2;
    unsigned o6 = o5 & 0x33333333u;
    unsigned o7 = o4 + o6;
    unsigned o8 = o7 >> 4;
    unsigned o9 = o8 + o7;
    unsigned o10 = o9 & 0x0f0f0f0fu;
    unsigned o11 = o10 >> 8;
    unsigned o12 = o10 + o11;
    unsigned o13 = o12 >> 16;
    unsigned o14 = o12 + o13;
    return (int)(o14 & 0x3f);
}
