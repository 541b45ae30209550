#!/bin/sh
# Installs what the build and tests need from Debian's packages, if missing.
#   scripts/setup.sh native    cmake, g++, GoogleTest, nlohmann/json, python3-numpy
#                              (numpy: the float64 reference of tests/reference/, run by /usr/bin/python3),
#                              unicode-data (the build generates its Unicode tables from it),
#                              sentencepiece + python3-sentencepiece (spm_train and the reference
#                              of tests/js/sentencepiece-reference.test.js)
#   scripts/setup.sh wasm      + Emscripten, and wabt (wasm-objdump: the test that the kernels use SIMD128)
#   scripts/setup.sh browser   + Chromium (for the page tests)
#   scripts/setup.sh fuzz      + clang and its libFuzzer / sanitizer runtimes (scripts/fuzz.sh)
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu

want="cmake g++ make libgtest-dev nlohmann-json3-dev python3-numpy unicode-data sentencepiece python3-sentencepiece"
for need in "$@"; do
  case "$need" in
    native) ;;
    wasm) want="$want emscripten wabt" ;;
    browser) want="$want chromium" ;;
    fuzz) want="$want clang libclang-rt-dev" ;;
    *) echo "setup.sh: unknown component '$need'" >&2; exit 2 ;;
  esac
done

missing=""
for pkg in $want; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "lm-wasm needs these Debian packages:$missing" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
