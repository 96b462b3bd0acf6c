/* 1 when x (unsigned) is a power of two, else 0. */
int is_power_of_two(unsigned x) {
    if (x == 0)
        return 0;
    if ((x & (x - 1)) == 0)
        return 1;
    return 0;
}
