#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each fuzz/*_fuzz.cpp target
# for SECONDS (default 30). Exits non-zero if any target finds a crash; the reproducer is
# left in build-fuzz/fuzz-artifacts/<target>/ (replay: <binary> <crash-file>).
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FACET_FUZZ_BUILD:-$root/build-fuzz}"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFACET_FUZZ=ON -DFACET_TESTS=OFF -DFACET_BENCH=OFF >/dev/null
ninja -C "$build" fuzz_targets

status=0
shopt -s nullglob
for exe in "$build"/fuzz/*_fuzz; do
  name="$(basename "$exe" _fuzz)"
  # Inputs found so far accumulate in the build folder; the checked-in seeds stay as they are.
  work="$build/fuzz-corpus/$name"
  artifacts="$build/fuzz-artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  # FUZZ_SEED fixes libFuzzer's random seed (test.sh uses 1 so CI runs are repeatable);
  # unset or 0 means a fresh random seed, for exploring by hand.
  args=(-seed="${FUZZ_SEED:-0}" -max_total_time="$seconds" -max_len=32768 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts")
  [ -f "$root/fuzz/$name.dict" ] && args+=(-dict="$root/fuzz/$name.dict")
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds+=("$root/fuzz/corpus/$name")
  echo "fuzz: running $name for ${seconds}s"
  if ! "$exe" "${args[@]}" "$work" "${seeds[@]}"; then
    echo "fuzz: $name FAILED; reproducers in $artifacts" >&2
    status=1
  fi
done
exit "$status"
