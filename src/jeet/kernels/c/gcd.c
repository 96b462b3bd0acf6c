/* Greatest common divisor of two unsigned numbers, Euclid's algorithm; gcd(0, 0) = 0. */
unsigned gcd(unsigned a, unsigned b) {
    while (b != 0) {
        unsigned t = a % b;
        a = b;
        b = t;
    }
    return a;
}
