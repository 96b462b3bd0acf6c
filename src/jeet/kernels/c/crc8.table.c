/* crc8 with a 256-entry table for the polynomial, built on every call (the polynomial is an
   argument): a large setup, then one table step per byte. */
int crc8(const unsigned char *p, int len, int poly) {
    unsigned char g = (unsigned char)poly;
    unsigned char table[256];
    unsigned char crc = 0;
    int i, k;
    for (i = 0; i < 256; i++) {
        unsigned char c = (unsigned char)i;
        for (k = 0; k < 8; k++) {
            if (c & 0x80)
                c = (unsigned char)((c << 1) ^ g);
            else
                c = (unsigned char)(c << 1);
        }
        table[i] = c;
    }
    for (i = 0; i < len; i++)
        crc = table[crc ^ p[i]];
    return crc;
}
