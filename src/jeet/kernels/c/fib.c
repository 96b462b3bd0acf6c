/* n-th Fibonacci number modulo 2**64, iteratively; 0 for n < 0, n capped at 1000. */
unsigned long long fib(int n) {
    unsigned long long a = 0;
    unsigned long long b = 1;
    int i;
    if (n < 0)
        return 0;
    if (n > 1000)
        n = 1000;
    for (i = 0; i < n; i++) {
        unsigned long long t = a + b;
        a = b;
        b = t;
    }
    return a;
}
