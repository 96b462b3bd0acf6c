/* -1, 0 or 1 as x is negative, zero or positive. */
int sign(int x) {
    if (x > 0)
        return 1;
    if (x < 0)
        return -1;
    return 0;
}
