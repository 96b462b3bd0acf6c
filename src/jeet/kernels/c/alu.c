/* A tiny ALU: applies operation op (0..9) to a and b with 32-bit wrapping; unknown ops give 0. */
int alu(int op, int a, int b) {
    unsigned x = (unsigned)a;
    unsigned y = (unsigned)b;
    switch (op) {
    case 0:
        return (int)(x + y);
    case 1:
        return (int)(x - y);
    case 2:
        return (int)(x * y);
    case 3:
        return a & b;
    case 4:
        return a | b;
    case 5:
        return a ^ b;
    case 6:
        return (int)(x << (y & 31));
    case 7:
        return (int)(x >> (y & 31));
    case 8:
        return a < b ? a : b;
    case 9:
        return a > b ? a : b;
    default:
        return 0;
    }
}
