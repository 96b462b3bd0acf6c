/* CRC-8 of the len bytes at p with the generator polynomial given by the low byte of poly
   (x^8 implicit; MSB first, initial value 0, no final xor: CRC-8/SMBUS when poly is 0x07).
   Bit by bit: no table, nothing to set up, eight shift steps per byte. */
int crc8(const unsigned char *p, int len, int poly) {
    unsigned char g = (unsigned char)poly;
    unsigned char crc = 0;
    int i, k;
    for (i = 0; i < len; i++) {
        crc = crc ^ p[i];
        for (k = 0; k < 8; k++) {
            if (crc & 0x80)
                crc = (unsigned char)((crc << 1) ^ g);
            else
                crc = (unsigned char)(crc << 1);
        }
    }
    return crc;
}
