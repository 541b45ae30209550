#!/bin/sh
# Runs every test: `npm test` (the README's test command) calls this.
# Installs what is missing first (scripts/setup.sh, npm ci), builds incrementally.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/setup.sh native wasm browser
# (Re)install dev dependencies when the lock file is newer than the install.
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund

echo "== build"
scripts/build.sh native
scripts/build.sh wasm

echo "== core tests (GoogleTest via CTest)"
ctest --test-dir build/native --output-on-failure -j"$JOBS"

echo "== wasm module, JS API, CLI and package tests (node --test)"
node --test --test-concurrency=1 tests/js/

echo "== story page in headless Chromium (playwright-core)"
node --test --test-concurrency=1 tests/browser/

echo "all tests passed"
