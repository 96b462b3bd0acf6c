/* The callee, linked in at run time: bits_set(x, width) counts the set bits among the low `width` bits of x. */
__attribute__((import_module("callee"), import_name("bits_set")))
unsigned bits_set(unsigned x, unsigned width);

/* The set-bit count of each byte of x, summed: one call per byte, each asking the callee to scan all
   32 bits although a byte has only 8. */
unsigned byte_weights(unsigned x) {
    unsigned total = 0;
    for (unsigned k = 0; k < 4; k++)
        total += bits_set((x >> (8 * k)) & 0xFF, 32);
    return total;
}
