#!/bin/sh
# Incremental builds.
#   scripts/build.sh native   build/native: core, lm-story, the GoogleTest suite
#   scripts/build.sh wasm     build/wasm, build/wasm-mt: the WebAssembly modules -> dist/
#   scripts/build.sh asan     build/asan: core, lm-story and the tests under AddressSanitizer + UBSan
#   scripts/build.sh          both
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh

build_native() {
  scripts/setup.sh native
  cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release -DLM_THREADS=ON >/dev/null
  cmake --build build/native -j"$JOBS"
}

# Two WebAssembly builds: single-threaded (dist/lm-wasm.*) and pthreads
# (dist/lm-wasm-mt.*, used where SharedArrayBuffer exists).
build_wasm() {
  scripts/setup.sh wasm
  [ -f build/wasm/CMakeCache.txt ] || emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/wasm -j"$JOBS"
  [ -f build/wasm-mt/CMakeCache.txt ] || emcmake cmake -S . -B build/wasm-mt -DCMAKE_BUILD_TYPE=Release -DLM_THREADS=ON >/dev/null
  cmake --build build/wasm-mt -j"$JOBS"
}

# The native build with AddressSanitizer (+ LeakSanitizer) and
# UndefinedBehaviorSanitizer, every report fatal; -O1 with debug info so
# reports have line numbers and the suite stays fast (scripts/test.sh).
build_asan() {
  scripts/setup.sh native
  cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" \
    -DLM_SANITIZE=address,undefined -DLM_THREADS=ON >/dev/null
  cmake --build build/asan -j"$JOBS"
}

case "${1:-all}" in
  native) build_native ;;
  wasm) build_wasm ;;
  asan) build_asan ;;
  all) build_native; build_wasm ;;
  *) echo "usage: scripts/build.sh [native|wasm|asan|all]" >&2; exit 2 ;;
esac
