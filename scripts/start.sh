#!/bin/sh
# `npm start` (the README's start command): builds what is missing and writes
# a story with the native CLI. (The web page replaces this once it exists.)
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh native
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release -DLM_THREADS=ON >/dev/null
cmake --build build/native -j"$JOBS" --target lm-story
exec build/native/lm-story --prompt "${PROMPT:-Once upon a time}" --max-tokens 256
