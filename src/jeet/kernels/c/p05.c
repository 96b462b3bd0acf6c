/* Hacker's Delight p05: right-propagate the rightmost 1-bit, x | (x - 1). */
int p05(unsigned x) {
    unsigned o1 = x - 1;
    return (int)(x | o1);
}
