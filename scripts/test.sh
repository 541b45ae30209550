#!/bin/sh
# Runs every test: `npm test` (the README's test command) calls this.
# Installs what is missing first (scripts/setup.sh, npm ci), builds incrementally.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/setup.sh native wasm browser fuzz
# (Re)install dev dependencies when the lock file is newer than the install.
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund

echo "== build"
scripts/build.sh native
scripts/build.sh wasm

echo "== core tests (GoogleTest via CTest)"
ctest --test-dir build/native --output-on-failure -j"$JOBS"

echo "== core tests under AddressSanitizer + UndefinedBehaviorSanitizer (build/asan)"
scripts/build.sh asan
UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build/asan --output-on-failure -j"$JOBS"

# Bounded fuzzing of every parser and the loader (30 s per target, about
# 3 minutes plus the build). LM_FUZZ_SECONDS=0 skips it, and says so.
echo "== fuzzing (scripts/fuzz.sh)"
scripts/fuzz.sh 30

echo "== wasm module, JS API, CLI and package tests (node --test)"
node --test --test-concurrency=1 tests/js/

echo "== story page in headless Chromium (playwright-core)"
node --test --test-concurrency=1 tests/browser/

echo "all tests passed"
