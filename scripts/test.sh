#!/bin/sh
# Runs every test: `npm test` (the README's test command) calls this.
# Installs what is missing first (scripts/setup.sh), builds incrementally.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/setup.sh native

echo "== native build (build/native)"
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release -DLM_THREADS=ON >/dev/null
cmake --build build/native -j"$JOBS"

echo "== core tests (GoogleTest via CTest)"
ctest --test-dir build/native --output-on-failure -j"$JOBS"

echo "all tests passed"
