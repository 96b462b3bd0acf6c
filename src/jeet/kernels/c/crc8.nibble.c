/* crc8 with a 16-entry table for the polynomial, built on every call (the polynomial is an
   argument): a small setup, then two table steps of four bits per byte. */
int crc8(const unsigned char *p, int len, int poly) {
    unsigned char g = (unsigned char)poly;
    unsigned char table[16];
    unsigned char crc = 0;
    int i, k;
    for (i = 0; i < 16; i++) {
        unsigned char c = (unsigned char)(i << 4);
        for (k = 0; k < 4; k++) {
            if (c & 0x80)
                c = (unsigned char)((c << 1) ^ g);
            else
                c = (unsigned char)(c << 1);
        }
        table[i] = c;
    }
    for (i = 0; i < len; i++) {
        crc = crc ^ p[i];
        crc = (unsigned char)(crc << 4) ^ table[crc >> 4];
        crc = (unsigned char)(crc << 4) ^ table[crc >> 4];
    }
    return crc;
}
