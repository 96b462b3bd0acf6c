/* Floor of the square root of x (unsigned), one result bit per iteration. */
unsigned isqrt(unsigned x) {
    unsigned res = 0;
    unsigned bit = 1u << 30;
    while (bit > x)
        bit = bit >> 2;
    while (bit != 0) {
        if (x >= res + bit) {
            x = x - (res + bit);
            res = (res >> 1) + bit;
        } else {
            res = res >> 1;
        }
        bit = bit >> 2;
    }
    return res;
}
