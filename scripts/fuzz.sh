#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each fuzz/*_fuzz.cpp target
# for at most SECONDS (default 30), in FACET_FUZZ_BUILD (default build-fuzz). Exits non-zero
# if any target finds a crash; the reproducer is left in <build>/fuzz-artifacts/<target>/
# (replay: <binary> <crash-file>) and its report is repeated at the end of the output.
#   scripts/fuzz.sh [SECONDS]
# Environment:
#   FUZZ_SEED  libFuzzer's random seed (0 or unset: a fresh one, for exploring by hand);
#   FUZZ_RUNS  stop each target after this many inputs (test.sh sets it): with a fixed seed
#              and a fresh corpus the run is then the same on every machine, whatever its
#              speed, so a CI failure replays here;
#   FUZZ_FRESH_CORPUS=1  start from the checked-in seeds only (new inputs are discarded);
#              otherwise inputs found accumulate in <build>/fuzz-corpus/<target>.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FACET_FUZZ_BUILD:-$root/build-fuzz}"

# A build folder already configured with FACET_FUZZ=ON (test.sh's sanitizer build) is used as
# it is; otherwise a fuzz-only build is configured here.
if ! grep -q '^FACET_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFACET_FUZZ=ON -DFACET_TESTS=OFF -DFACET_BENCH=OFF >/dev/null
fi
ninja -C "$build" fuzz_targets

# Leaks inside third-party decoders (libsndfile's on some damaged Ogg Vorbis files) are not
# facet's to fix; fuzz/lsan.supp names only those libraries.
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

failed=()
shopt -s nullglob
for exe in "$build"/fuzz/*_fuzz; do
  name="$(basename "$exe" _fuzz)"
  # The checked-in seeds stay as they are; new inputs go to the work folder.
  work="$build/fuzz-corpus/$name"
  [ "${FUZZ_FRESH_CORPUS:-0}" = 1 ] && rm -rf "$work"
  artifacts="$build/fuzz-artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  args=(-seed="${FUZZ_SEED:-0}" -max_total_time="$seconds" -max_len=32768 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  [ -f "$root/fuzz/$name.dict" ] && args+=(-dict="$root/fuzz/$name.dict")
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds+=("$root/fuzz/corpus/$name")
  echo "fuzz: running $name for at most ${seconds}s${FUZZ_RUNS:+ or $FUZZ_RUNS inputs}"
  log="$build/fuzz-artifacts/$name.log"
  if ! "$exe" "${args[@]}" "$work" "${seeds[@]}" 2>&1 | tee "$log"; then
    echo "fuzz: $name FAILED; reproducers in $artifacts" >&2
    failed+=("$name")
  fi
done

# CI shows only the end of the output: repeat each failure's report and its reproducer there.
for name in "${failed[@]}"; do
  echo "==== fuzz: $name FAILED. Its report:" >&2
  grep -v '^#[0-9]' "$build/fuzz-artifacts/$name.log" | grep -A40 -m1 -E 'ERROR|runtime error|==[0-9]+==|deadly signal|out-of-memory|timeout' >&2 || true
  for crash in "$build/fuzz-artifacts/$name"/*; do
    [ -f "$crash" ] || continue
    echo "reproducer $(basename "$crash") ($(stat -c %s "$crash") bytes), base64:" >&2
    head -c 4096 "$crash" | base64 -w 0 >&2
    echo >&2
  done
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed targets: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran clean"
