#!/bin/sh
# Builds the libFuzzer targets (fuzz/: clang, AddressSanitizer + UBSan) in
# build/fuzz and runs each one for a bounded time. Fails when any target
# finds a crash, a sanitizer report, a leak, a timeout or an allocation past
# the memory limits.
#   scripts/fuzz.sh [SECONDS]   seconds per target (default 30)
# Environment:
#   LM_FUZZ_SECONDS=N        overrides SECONDS; LM_FUZZ_SECONDS=0 skips fuzzing (and says so)
#   LM_FUZZ_TARGETS="a b"    only these targets (default: all of them)
#   LM_FUZZ_TOKENIZER=FILE   tokenizer.json for tokenizer_ops (default: the story model's)
# Seeds: fuzz/corpus/<target> (read-only; rebuilt by `node fuzz/make-corpus.mjs`)
# and fuzz/regressions/<target> (past findings). New inputs go to
# build/fuzz/corpus/<target>, findings to build/fuzz/artifacts/<target>/.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh

seconds="${LM_FUZZ_SECONDS:-${1:-30}}"
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: seconds must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
if [ "$seconds" -eq 0 ]; then
  echo "fuzz.sh: fuzzing SKIPPED (LM_FUZZ_SECONDS=0)"
  exit 0
fi
targets="${LM_FUZZ_TARGETS:-safetensors config tokenizer_json tokenizer_ops model sentencepiece}"

scripts/setup.sh native fuzz
CC=clang CXX=clang++ cmake -S . -B build/fuzz -DLM_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" >/dev/null
mkdir -p build/fuzz/logs
# shellcheck disable=SC2086
if ! cmake --build build/fuzz -j"$JOBS" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done) \
    >build/fuzz/logs/build.log 2>&1; then
  tail -40 build/fuzz/logs/build.log
  echo "fuzz.sh: build failed (build/fuzz/logs/build.log)" >&2
  exit 1
fi

# Longest input per target: a little above the largest seed.
max_len() {
  case "$1" in
    config) echo 4096 ;;
    tokenizer_ops) echo 2048 ;;
    model) echo 24576 ;;
    *) echo 8192 ;;
  esac
}

failed=""
summary=""
for t in $targets; do
  bin="build/fuzz/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz.sh: unknown target '$t'" >&2; exit 2; }
  mkdir -p "build/fuzz/corpus/$t" "build/fuzz/artifacts/$t"
  log="build/fuzz/logs/$t.log"
  seeds="fuzz/corpus/$t"
  [ -d "fuzz/regressions/$t" ] && seeds="$seeds fuzz/regressions/$t"
  dict=""
  case "$t" in config | tokenizer_json | safetensors | model) dict="-dict=fuzz/json.dict" ;; esac
  echo "== fuzz $t (${seconds}s)"
  # -malloc_limit_mb: any single allocation above it is a finding (sizes taken
  # from the input must be checked first); -rss_limit_mb bounds the whole run.
  # shellcheck disable=SC2086
  if "$bin" "build/fuzz/corpus/$t" $seeds $dict \
      -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/artifacts/$t/" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed="$failed $t"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  line=$(printf '%-15s %-7s %9s runs %7s exec/s  cov %6s  peak %5s MB' "$t" "$status" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${rss:-?}")
  echo "$line"
  summary="$summary$line
"
  if [ "$status" = FAILED ]; then
    echo "---- $log (end):"
    grep -v '^#\|^INFO:\|^stat::' "$log" | tail -40
    echo "----"
  fi
done

echo "== fuzz summary"
printf '%s' "$summary"
if [ -n "$failed" ]; then
  echo "fuzz.sh: findings in:$failed" >&2
  echo "  reproduce: build/fuzz/fuzz/fuzz_<target> build/fuzz/artifacts/<target>/<file>" >&2
  echo "  then fix core/ and keep the input as a test: copy it to fuzz/regressions/<target>/" >&2
  exit 1
fi
echo "fuzz.sh: no findings"
