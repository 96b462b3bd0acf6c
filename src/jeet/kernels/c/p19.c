/* Hacker's Delight p19: exchange two bit fields of x: m masks the lower field, k (0..31) is the
   distance from it to the upper one. */
int p19(unsigned x, unsigned m, unsigned k) {
    unsigned o1 = x >> k;
    unsigned o2 = x ^ o1;
    unsigned o3 = o2 & m;
    unsigned o4 = o3 << k;
    unsigned o5 = o4 ^ o3;
    return (int)(o5 ^ x);
}
