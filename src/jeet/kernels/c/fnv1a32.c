/* 32-bit FNV-1a hash of the len bytes at p. */
unsigned fnv1a32(const unsigned char *p, int len) {
    unsigned h = 2166136261u;
    int i;
    for (i = 0; i < len; i++) {
        h = h ^ p[i];
        h = h * 16777619u;
    }
    return h;
}
