# Sourced by the scripts: environment for Debian's Emscripten.
# Debian's emcc runs its JS tools with the system node and needs Debian's
# node modules (acorn) on NODE_PATH, or fails with "Cannot find module 'acorn'".
NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
export NODE_PATH
# (Debian's Emscripten ships a prebuilt, frozen sysroot cache: leave EM_CACHE alone.)
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
