/* Largest of the len unsigned bytes at p; 0 for an empty buffer. */
int max_byte(const unsigned char *p, int len) {
    int m = 0;
    int i;
    for (i = 0; i < len; i++) {
        if (p[i] > m)
            m = p[i];
    }
    return m;
}
