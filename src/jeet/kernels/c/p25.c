/* Hacker's Delight p25: the high word of the unsigned 32 x 32 product, from 16-bit halves. */
int p25(unsigned x, unsigned y) {
    unsigned x0 = x & 0xffff, x1 = x >> 16;
    unsigned y0 = y & 0xffff, y1 = y >> 16;
    unsigned w0 = x0 * y0;
    unsigned t = x1 * y0 + (w0 >> 16);
    unsigned w1 = t & 0xffff;
    unsigned w2 = t >> 16;
    w1 = x0 * y1 + w1;
    return (int)(x1 * y1 + w2 + (w1 >> 16));
}
