/* Sum of the len unsigned bytes at p, modulo 2**32. */
unsigned sum_bytes(const unsigned char *p, int len) {
    unsigned s = 0;
    int i;
    for (i = 0; i < len; i++)
        s += p[i];
    return s;
}
