/* The number of set bits among the low `width` bits of x, one bit per iteration: general, and slow. */
unsigned bits_set(unsigned x, unsigned width) {
    unsigned n = 0;
    for (unsigned i = 0; i < width; i++)
        n += (x >> i) & 1;
    return n;
}
