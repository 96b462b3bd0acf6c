/* How many of the len bytes at p equal the low byte of b. */
int count_byte(const unsigned char *p, int len, int b) {
    unsigned char target = (unsigned char)b;
    int count = 0;
    int i;
    for (i = 0; i < len; i++) {
        if (p[i] == target)
            count++;
    }
    return count;
}
