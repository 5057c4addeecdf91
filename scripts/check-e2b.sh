#!/usr/bin/env bash
# By-hand check (not part of the test suite: it writes ~9.3 GB): generates a random model
# with the real E2B dimensions (262144 vocab, 35 layers, 4.7 GB per-layer-embedding table),
# then times loading it (mmap) and generating a few tokens.
#   scripts/check-e2b.sh [DTYPE=bf16] [DIR=/tmp]
set -euo pipefail
cd "$(dirname "$0")/.."
dtype="${1:-bf16}"
dir="${2:-/tmp}"
model="$dir/facet-e2b-shaped-$dtype.gguf"
./scripts/build.sh >/dev/null
[ -f "$model" ] || build/facet make-test-model --config models/configs/gemma-4-e2b.json --out "$model" --dtype "$dtype" --seed 1
echo "== facet info (cold page cache is not forced; run twice to compare)"
/usr/bin/time -f "info: %e s wall, %M KiB max RSS" build/facet info "$model"
echo "== facet run: 8 prompt tokens, 8 generated, 2 threads"
/usr/bin/time -f "run: %e s wall, %M KiB max RSS" build/facet run "$model" --tokens 2,105,2364,107,9259,993,236764,1217 -n 8 -t 2 -v
[ "${KEEP:-0}" = 1 ] || rm -f "$model"
