/* Hacker's Delight p17: turn off the rightmost contiguous string of 1-bits. */
int p17(unsigned x) {
    unsigned o1 = x - 1;
    unsigned o2 = x | o1;
    unsigned o3 = o2 + 1;
    return (int)(o3 & x);
}
