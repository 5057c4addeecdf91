#!/usr/bin/env bash
# Builds facet (Release) and runs it on the bundled default model.
#
# The default model (models/default/facet-brown-8m-f16.gguf) is a small Gemma 4-architecture
# decoder that facet trained itself, from scratch, on the Brown Corpus (1961 American
# English), then taught the chat format: 6 layers, hidden size 256, an 8192-token vocabulary,
# 7.8 M parameters. scripts/train-default-model.sh reproduces it. It writes English, but it
# knows little: point facet at a real Gemma 4 GGUF file or Hugging Face folder for real
# answers.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
model=models/default/facet-brown-8m-f16.gguf
build/facet info "$model" | head -n 8
echo
echo "\$ facet run $model -p \"The jury said\" -n 48 --temp 0.7 --seed 7"
build/facet run "$model" -p "The jury said" -n 48 --temp 0.7 --seed 7
echo
echo
for prompt in "Hello!" "Who are you?"; do
  echo "\$ facet run $model --chat -p \"$prompt\""
  build/facet run "$model" --chat -p "$prompt" -n 64
  echo
done
