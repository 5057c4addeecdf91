#!/usr/bin/env bash
# Speed of facet on the E2B-shaped random model (real E2B dimensions), per weight type, the
# way issue 4 compares against llama.cpp: `facet bench -p 512 -n 128 -t 2 -r 3 --json` on
# each quantized file, then the peak RSS of a 128-token generation on the first type.
# Prints a markdown table (medians over the repetitions) and keeps the raw JSON beside it.
#
#   scripts/bench-e2b.sh [--keep] [TYPE ...]        (default types: Q4_0 Q4_K_M Q8_0 F16)
#
# Environment:
#   FACET_BENCH_CONFIG   generator config (default models/configs/gemma-4-e2b.json; a tiny
#                        one such as models/configs/tiny-all.json checks the script quickly)
#   FACET_BENCH_DIR      where the model files go (default /work/tmp/facet-bench, else /tmp)
#   FACET_BENCH_ARGS     bench flags (default "-p 512 -n 128 -t 2 -r 3")
#   FACET_BENCH_NEED_GB  free space required (default 20 for the E2B config, 1 otherwise):
#                        the BF16 source (9.3 GB) plus the largest output (F16, 9.3 GB);
#                        each quantized file is deleted after its run unless --keep.
#   FACET_BIN            the facet binary (default build/facet, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
types=()
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $arg" >&2; exit 1 ;;
    *) types+=("$arg") ;;
  esac
done
[ ${#types[@]} -gt 0 ] || types=(Q4_0 Q4_K_M Q8_0 F16)

config="${FACET_BENCH_CONFIG:-models/configs/gemma-4-e2b.json}"
bench_args="${FACET_BENCH_ARGS:--p 512 -n 128 -t 2 -r 3}"
facet="${FACET_BIN:-build/facet}"
default_dir=/work/tmp/facet-bench
[ -d /work ] || default_dir=/tmp/facet-bench
dir="${FACET_BENCH_DIR:-$default_dir}"
if [ "$config" = models/configs/gemma-4-e2b.json ]; then need_gb="${FACET_BENCH_NEED_GB:-20}"; else need_gb="${FACET_BENCH_NEED_GB:-1}"; fi

[ -f "$config" ] || { echo "error: generator config $config not found" >&2; exit 1; }
command -v jq >/dev/null || { echo "error: this script needs jq to read facet bench --json" >&2; exit 1; }
[ -x "$facet" ] || ./scripts/build.sh >/dev/null
mkdir -p "$dir"
avail_gb=$(df -Pk "$dir" | awk 'NR == 2 { print int($4 / 1024 / 1024) }')
if [ "$avail_gb" -lt "$need_gb" ]; then
  echo "error: $dir has ${avail_gb} GB free; this run needs about ${need_gb} GB (set FACET_BENCH_DIR or FACET_BENCH_NEED_GB)" >&2
  exit 1
fi

name=$(basename "$config" .json)
source_model="$dir/$name-bf16.gguf"
cleanup() {
  [ "$keep" = 1 ] && return
  rm -f "$source_model"
  for t in "${types[@]}"; do rm -f "$dir/$name-$t.gguf"; done
}
trap cleanup EXIT

if [ ! -f "$source_model" ]; then
  echo "== generating $source_model from $config" >&2
  "$facet" make-test-model --config "$config" --out "$source_model" --dtype bf16 --seed 1 >&2
fi

rows=()
rss_line=""
for t in "${types[@]}"; do
  model="$dir/$name-$t.gguf"
  [ -f "$model" ] || { echo "== quantizing to $t" >&2; "$facet" quantize "$source_model" "$model" "$t" >&2; }
  echo "== facet bench $model $bench_args --json" >&2
  # shellcheck disable=SC2086
  "$facet" bench "$model" $bench_args --json > "$dir/$name-$t.bench.json"
  j="$dir/$name-$t.bench.json"
  size=$(jq -r '.model.size_bytes | if . >= 1073741824 then "\(. / 1073741824 * 100 | floor / 100) GiB"
                                     else "\(. / 1048576 * 100 | floor / 100) MiB" end' "$j")
  pp=$(jq -r '.prompt_tokens_per_s // 0 | . * 100 | floor / 100' "$j")
  tg=$(jq -r '.gen_tokens_per_s // 0 | . * 100 | floor / 100' "$j")
  pp_runs=$(jq -r '[.prompt.runs[]? | . * 10 | floor / 10] | join(", ")' "$j")
  tg_runs=$(jq -r '[.gen.runs[]? | . * 10 | floor / 10] | join(", ")' "$j")
  rows+=("| $t | $size | $pp | $tg | $pp_runs | $tg_runs |")
  if [ -z "$rss_line" ]; then
    # Peak RSS of a plain generation: 8 prompt tokens, 128 generated, as a user would run it.
    echo "== /usr/bin/time -v facet run ($t, 128 tokens)" >&2
    /usr/bin/time -v "$facet" run "$model" --tokens 2,105,107,300,400,17,9,45 -n 128 -t 2 --ignore-eos \
      > /dev/null 2> "$dir/$name-$t.time.txt" || { cat "$dir/$name-$t.time.txt" >&2; exit 1; }
    rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$dir/$name-$t.time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$dir/$name-$t.time.txt")
    rss_line="Peak RSS generating 128 tokens with $t: $((rss_kb / 1024)) MiB (wall $wall)."
  fi
  [ "$keep" = 1 ] || rm -f "$model"
done

first="$dir/$name-${types[0]}.bench.json"
echo
echo "facet bench $bench_args on $name ($(jq -r '.machine.cpu' "$first"), SIMD $(jq -r '.machine.simd' "$first"),"
echo "facet $(jq -r '.build.commit' "$first") $(jq -r '.build.build_type' "$first"), $(jq -r '.build.compiler' "$first")); medians of the timed runs:"
echo
echo "| type | size | prompt t/s | generation t/s | prompt runs | generation runs |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "$rss_line"
echo "Raw JSON: $dir/$name-*.bench.json"
