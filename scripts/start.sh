#!/bin/sh
# `npm start` (the README's start command): builds what is missing, puts the
# story model next to the page, serves the site on 127.0.0.1 and prints the URL.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh wasm
scripts/build.sh wasm
node scripts/build-site.mjs build/site

# The model: models/story, ../shared/models/story, else download from Hugging Face.
model=""
for dir in models/story ../shared/models/story; do
  if [ -f "$dir/model.safetensors" ] && [ -f "$dir/config.json" ] && [ -f "$dir/tokenizer.json" ]; then model="$dir"; break; fi
done
if [ -z "$model" ]; then
  node scripts/fetch-model.mjs raincandy-u/TinyStories-656K models/story
  model=models/story
fi
mkdir -p build/site/models
rm -rf build/site/models/story
ln -s "$(cd "$model" && pwd)" build/site/models/story
echo "model files: $model"

# Cross-origin isolation headers let the page use threads (SharedArrayBuffer).
exec node scripts/serve.mjs build/site --port "${PORT:-8080}" --isolate --csp "$@"
