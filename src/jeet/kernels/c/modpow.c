/* base ** exp % mod on unsigned numbers by square-and-multiply; 0 when mod is 0. */
unsigned modpow(unsigned base, unsigned exp, unsigned mod) {
    unsigned long long result;
    unsigned long long b;
    if (mod == 0)
        return 0;
    result = 1 % mod;
    b = base % mod;
    while (exp > 0) {
        if (exp & 1)
            result = (result * b) % mod;
        b = (b * b) % mod;
        exp = exp >> 1;
    }
    return (unsigned)result;
}
