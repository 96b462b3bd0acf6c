/* Hermite smoothstep on [0, 1]: 0 below, 1 above, 3x^2 - 2x^3 between. */
double smoothstep(double x) {
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    return x * x * (3.0 - 2.0 * x);
}
