/* Hacker's Delight p22: parity of x, 1 when the number of 1-bits is odd, without a loop. */
int p22(unsigned x) {
    unsigned o1 = x >> 1;
    unsigned o2 = o1 ^ x;
    unsigned o3 = o2 >> 2;
    unsigned o4 = o2 ^ o3;
    unsigned o5 = o4 & 0x11111111u;
    unsigned o6 = o5 * 0x11111111u;
    unsigned o7 = o6 >> 28;
    return (int)(o7 & 1);
}
