/* Sum of the decimal digits of |n|. */
int digit_sum(int n) {
    unsigned u;
    int s = 0;
    if (n < 0)
        u = 0u - (unsigned)n;
    else
        u = (unsigned)n;
    while (u > 0) {
        s += u % 10;
        u = u / 10;
    }
    return s;
}
