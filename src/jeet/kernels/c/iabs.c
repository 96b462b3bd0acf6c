/* Absolute value of x, wrapping: iabs(INT_MIN) = INT_MIN. */
int iabs(int x) {
    if (x < 0)
        return (int)(0u - (unsigned)x);
    return x;
}
