#!/bin/sh
# Rebuild the built-in co-evolution example: caller.c -> caller.wasm, callee.c -> callee.wasm.
#
# Usage: build.sh [OUT_DIR]   (default: the folder of this script). CLANG overrides the compiler.
# Same flags as the kernel suite (clang -O0, no wasm-opt): each module has its own 2-page memory
# and 4 KiB shadow stack; the caller imports callee.bits_set and exports byte_weights.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here"}
clang=${CLANG:-clang}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

build() {  # build NAME EXPORT
    "$clang" --target=wasm32 -mcpu=mvp -O0 -ffreestanding -fno-builtin -c -o "$tmp/$1.o" "$here/$1.c"
    "$clang" --target=wasm32 -nostdlib \
        -Wl,--no-entry \
        -Wl,--export="$2" \
        -Wl,--strip-debug \
        -Wl,--stack-first \
        -Wl,-z,stack-size=4096 \
        -Wl,--initial-memory=131072 \
        -Wl,--max-memory=1048576 \
        -o "$out/$1.wasm" "$tmp/$1.o"
    chmod 644 "$out/$1.wasm"
}

build callee bits_set
build caller byte_weights
