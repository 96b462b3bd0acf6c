/* Adler-32 checksum (zlib) of the len bytes at p. */
unsigned adler32(const unsigned char *p, int len) {
    unsigned a = 1;
    unsigned b = 0;
    int i;
    for (i = 0; i < len; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}
