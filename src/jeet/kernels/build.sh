#!/bin/sh
# Rebuild jeet's built-in kernels: every c/NAME.c becomes NAME.O0.wasm and NAME.O2.wasm, and, when
# Binaryen's wasm-opt is on PATH, NAME.O2opt.wasm: the -O2 build after `wasm-opt -O3`, a production
# build as users ship it. Without wasm-opt the committed NAME.O2opt.wasm files are left as they are.
# A file c/NAME.VARIANT.c is another implementation of kernel NAME (same exported function NAME):
# it becomes NAME.VARIANT.O0.wasm, NAME.VARIANT.O2.wasm and NAME.VARIANT.O2opt.wasm.
#
# Usage: build.sh [OUT_DIR [NAME...]]
#   OUT_DIR defaults to the wasm/ folder next to this script; NAMEs default to every c/*.c.
#   CLANG overrides the compiler (default: clang; needs the wasm32 target and wasm-ld).
#   WASM_OPT overrides Binaryen's optimiser (default: wasm-opt when on PATH).
#
# Each module is self-contained: no imports, one exported function NAME, exported memory of
# 2 pages (maximum 16 = 1 MiB), a 4 KiB shadow stack placed first (addresses 0..4095, growing
# down from 4096), static data after it, and the whole second page (65536..131071) left free
# for callers' buffers.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/wasm"}
[ $# -gt 0 ] && shift
clang=${CLANG:-clang}
wasm_opt=${WASM_OPT:-$(command -v wasm-opt || true)}
# The WebAssembly 2.0 features jeet's sandbox runs (jeet.evolve.seeding.WASM_OPT_FEATURES): nothing newer.
wasm_opt_features="--enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int
    --enable-bulk-memory --enable-multivalue --enable-reference-types"

mkdir -p "$out"

if [ $# -eq 0 ]; then
    set --
    for src in "$here"/c/*.c; do
        name=$(basename "$src" .c)
        set -- "$@" "$name"
    done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Compile and link in two steps: when clang links with -O it also runs binaryen's wasm-opt if
# one is on PATH, which would make the output depend on the machine. Linking without -O keeps
# the result a product of clang and wasm-ld alone.
for name in "$@"; do
    src="$here/c/$name.c"
    [ -f "$src" ] || { echo "build.sh: no kernel source $src" >&2; exit 1; }
    for opt in O0 O2; do
        "$clang" --target=wasm32 -mcpu=mvp "-$opt" -ffreestanding -fno-builtin \
            -c -o "$tmp/$name.$opt.o" "$src"
        "$clang" --target=wasm32 -nostdlib \
            -Wl,--no-entry \
            -Wl,--export="${name%%.*}" \
            -Wl,--strip-debug \
            -Wl,--stack-first \
            -Wl,-z,stack-size=4096 \
            -Wl,--initial-memory=131072 \
            -Wl,--max-memory=1048576 \
            -o "$out/$name.$opt.wasm" "$tmp/$name.$opt.o"
        chmod 644 "$out/$name.$opt.wasm"
    done
    if [ -n "$wasm_opt" ]; then
        # shellcheck disable=SC2086
        "$wasm_opt" -O3 $wasm_opt_features -o "$out/$name.O2opt.wasm" "$out/$name.O2.wasm"
        chmod 644 "$out/$name.O2opt.wasm"
    fi
done
