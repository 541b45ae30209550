# Sourced by the scripts: environment for Debian's Emscripten.
# Debian's emcc runs its JS tools with the system node and needs Debian's
# node modules (acorn) on NODE_PATH, or fails with "Cannot find module 'acorn'".
NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
export NODE_PATH
# Keep Emscripten's cache out of the read-only system directory.
EM_CACHE="${EM_CACHE:-$HOME/.cache/lm-wasm-emscripten}"
export EM_CACHE
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
