/* Steps for n (unsigned) to reach 1 under the Collatz map, at most 1000; 0 for n <= 1. */
int collatz(unsigned n) {
    unsigned long long x = n;
    int steps = 0;
    while (x > 1 && steps < 1000) {
        if (x % 2 == 0)
            x = x / 2;
        else
            x = 3 * x + 1;
        steps++;
    }
    return steps;
}
