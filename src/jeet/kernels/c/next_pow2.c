/* Smallest power of two >= x (unsigned); 1 for 0, and 0 when it does not fit in 32 bits. */
unsigned next_pow2(unsigned x) {
    unsigned p = 1;
    while (p < x) {
        p = p << 1;
        if (p == 0)
            return 0;
    }
    return p;
}
