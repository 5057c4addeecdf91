#!/usr/bin/env bash
# Builds facet (Release) and runs it on the bundled default model.
#
# The default model is NOT a trained model: it is a tiny random-weight Gemma 4 decoder
# (config models/configs/tiny-all.json: 7 layers, hidden 128, every Gemma 4 decoder
# feature switched on) that facet generates itself on first use, so its output is
# meaningless tokens. It shows the whole path working; point facet at a real
# Gemma 4 GGUF file or Hugging Face folder for real text.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
model=build/models/tiny-default.gguf
if [ ! -f "$model" ]; then
  mkdir -p build/models
  build/facet make-test-model --config models/configs/tiny-all.json --out "$model" --seed 1
fi
build/facet info "$model"
echo
echo "facet run $model --tokens 2,300,301,302 -n 24 --temp 0.8 --seed 7"
build/facet run "$model" --tokens 2,300,301,302 -n 24 --temp 0.8 --seed 7 --ignore-eos -v
