#!/usr/bin/env bash
# Trains a small draft model for the bundled default model on that model's own outputs,
# to measure speculative decoding with a realistic acceptance rate (README "Speculative
# decoding"). A random-weight drafter never agrees with its model; this one has learned to.
#
#   scripts/train-test-drafter.sh [WORK_DIR]        # default build/test-drafter
#
# 1. the default model continues 400 openings of the Brown Corpus training split
#    (temperature 0.8, seeded), 160 tokens each: the drafter's training text;
# 2. facet pretrain: a 2-layer, 128-wide decoder with the same tokenizer
#    (models/configs/facet-brown-drafter.json) on that text;
# 3. the acceptance and speed on 40 held-out openings, greedy, --draft-max 4.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/test-drafter}
facet=${FACET:-$here/build/facet}
main=$here/models/default/facet-brown-8m-f16.gguf
corpus=${CORPUS:-$here/build/default-model/corpus}
[[ -x $facet ]] || { echo "error: $facet not built (run scripts/build.sh)" >&2; exit 1; }
[[ -f $corpus/brown-train.txt ]] || "$here/scripts/prepare-corpus.sh" "$corpus"
mkdir -p "$work"

# Openings: the first 8 words of every 40th long sentence (prompts from the training split, held-out ones from the test split).
awk 'BEGIN { RS = "[.!?] " } NF >= 12 && ++n % 40 == 0 && k++ < 400 { print $1, $2, $3, $4, $5, $6, $7, $8 }' "$corpus/brown-train.txt" > "$work/openings.txt"
awk 'BEGIN { RS = "[.!?] " } NF >= 12 && ++n % 40 == 20 && k++ < 40 { print $1, $2, $3, $4, $5, $6, $7, $8 }' "$corpus/brown-test.txt" > "$work/held-out.txt"
if [[ ! -s $work/generated.txt ]]; then
  seed=0
  while IFS= read -r opening; do
    seed=$((seed + 1))
    "$facet" run "$main" -p "$opening" -n 160 --temp 0.8 --seed "$seed" --ignore-eos -t 2 2>/dev/null >> "$work/generated.tmp"
    echo >> "$work/generated.tmp"
  done < "$work/openings.txt"
  mv "$work/generated.tmp" "$work/generated.txt"
fi

mkdir -p "$work/config"
cp "$here/models/configs/facet-brown-drafter.json" "$work/config/config.json"
cp "$here/build/default-model/tokenizer.json" "$work/config/tokenizer.json" 2>/dev/null ||
  "$facet" train-tokenizer --data "$corpus/brown-train.txt" --vocab-size 8192 --output "$work/config/tokenizer.json"
"$facet" pretrain --config "$work/config/config.json" --data "$work/generated.txt" --output "$work/drafter" \
  --max-steps "${DRAFTER_STEPS:-600}" --max-seq-len 128 --batch-size 4 --lr 3e-3 --warmup-steps 30 \
  --lr-scheduler cosine --seed 1 --save-steps 0 --logging-steps 50 -t 2 --outtype F16

accepted=0 drafted=0
while IFS= read -r opening; do
  line=$("$facet" run "$main" -p "$opening" -n 64 --draft "$work/drafter/model.gguf" --draft-max 4 -t 2 -v 2>&1 >/dev/null | grep -o 'accepted [0-9]*/[0-9]*' || true)
  [[ -n $line ]] || continue
  a=${line#accepted }; accepted=$((accepted + ${a%/*})); drafted=$((drafted + ${a#*/}))
done < "$work/held-out.txt"
echo "held-out acceptance: $accepted/$drafted draft tokens"
