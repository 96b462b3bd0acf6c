/* Hacker's Delight p21: cycle through three values: a -> b, b -> c, c -> a (x is one of them). */
int p21(int x, int a, int b, int c) {
    int o1 = -(x == c);
    int o2 = a ^ c;
    int o3 = -(x == a);
    int o4 = b ^ c;
    int o5 = o1 & o2;
    int o6 = o3 & o4;
    int o7 = o5 ^ o6;
    return o7 ^ c;
}
