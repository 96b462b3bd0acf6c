/* 1 when x has an odd number of set bits, else 0. */
int parity(unsigned x) {
    int p = 0;
    while (x != 0) {
        if (x & 1)
            p = !p;
        x = x >> 1;
    }
    return p;
}
