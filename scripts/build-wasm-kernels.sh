#!/bin/sh
# npm run build:kernels — compiles our WebAssembly kernels (src/engine/fused/wasm/*.c) to .wasm.
#
# The .wasm files are committed, so the lab, the CLI and CI need no C compiler; run this after
# editing a .c file. Needs Debian's clang-14 and lld-14 (apt-get install clang-14 lld-14), or
# set CLANG / WASM_LD / OBJDUMP to other LLVM tools of version 14 or newer.
#
# Each module imports tfjs-wasm's memory (--import-memory) and works in place on its tensors, so
# it must own nothing in that memory: no data segments, and no shadow stack (LLVM keeps one in
# linear memory, at addresses that belong to tfjs). The checks below refuse a binary that has
# either, e.g. after an edit that makes the compiler spill an array to the stack.
#
# Each .c gives two modules from the same code: NAME.wasm imports tfjs-wasm's (unshared) memory;
# NAME-shared.wasm imports a shared memory (threads + atomics), for the helper threads that take
# part of a large matmul (matmul-pool.ts). WebAssembly checks that the memory types match, so
# one binary cannot serve both.
set -eu
CLANG=${CLANG:-clang-14}
WASM_LD=${WASM_LD:-wasm-ld-14}
OBJDUMP=${OBJDUMP:-llvm-objdump-14}
dir=$(cd "$(dirname "$0")/../src/engine/fused/wasm" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check WASM: refuses a module that would write into memory it does not own.
check() {
  if "$OBJDUMP" -h "$1" | grep -q ' DATA '; then
    echo "$(basename "$1"): has a data segment, which would overwrite tfjs's memory" >&2; exit 1
  fi
  if "$OBJDUMP" -d "$1" | grep -q 'global\.[gs]et'; then
    echo "$(basename "$1"): uses the shadow stack (global.get/set), which lives in tfjs's memory" >&2; exit 1
  fi
}

for src in "$dir"/*.c; do
  name=$(basename "$src" .c)
  "$CLANG" --target=wasm32 -msimd128 -O3 -ffreestanding -nostdlib -Wall -Wextra -Werror -c "$src" -o "$tmp/$name.o"
  "$CLANG" --target=wasm32 -msimd128 -matomics -mbulk-memory -O3 -ffreestanding -nostdlib -Wall -Wextra -Werror -c "$src" -o "$tmp/$name-shared.o"
  "$WASM_LD" --no-entry --import-memory --strip-all -o "$tmp/$name.wasm" "$tmp/$name.o"
  # The largest shared memory it may be given: 4 GiB, tfjs-wasm's own maximum, so that it can run
  # on tfjs's memory made shared (shared-heap.ts). A maximum is required for shared memory.
  "$WASM_LD" --no-entry --import-memory --shared-memory --max-memory=4294967296 --strip-all -o "$tmp/$name-shared.wasm" "$tmp/$name-shared.o"
  for built in "$name" "$name-shared"; do
    check "$tmp/$built.wasm"
    cp "$tmp/$built.wasm" "$dir/$built.wasm"
    echo "built src/engine/fused/wasm/$built.wasm ($(wc -c < "$dir/$built.wasm") bytes)"
  done
done
