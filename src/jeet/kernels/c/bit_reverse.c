/* Reverse the order of the 32 bits of x. */
unsigned bit_reverse(unsigned x) {
    unsigned r = 0;
    int i;
    for (i = 0; i < 32; i++) {
        r = r << 1;
        r = r | (x & 1);
        x = x >> 1;
    }
    return r;
}
