/* x limited to [lo, hi] (signed); lo wins when lo > hi. */
int clamp(int x, int lo, int hi) {
    if (x < lo)
        return lo;
    if (x > hi)
        return hi;
    return x;
}
