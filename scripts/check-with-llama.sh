#!/usr/bin/env bash
# Checks that llama.cpp loads a GGUF facet wrote and continues a prompt exactly as facet
# does: the same prompt token ids and the same greedy continuation.
#
#   scripts/check-with-llama.sh [MODEL.gguf] [PROMPT] [N]
#     (defaults: the bundled default model, "The jury said that", 32 tokens)
#
# llama.cpp comes from npm (node-llama-cpp 3.22.1, prebuilt CPU libraries) into a scratch
# folder, PEER_DIR (default build/llama-peer), never into facet's dependencies.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
model=$(realpath "${1:-$here/models/default/facet-brown-8m-f16.gguf}")
prompt=${2:-The jury said that}
n=${3:-32}
facet=${FACET:-$here/build/facet}
peer=${PEER_DIR:-$here/build/llama-peer}
command -v npm >/dev/null || { echo "error: this script needs node and npm (scripts/install-deps.sh)" >&2; exit 1; }
command -v jq >/dev/null || { echo "error: this script needs jq" >&2; exit 1; }
[[ -x $facet ]] || { echo "error: $facet not built (run scripts/build.sh)" >&2; exit 1; }
mkdir -p "$peer"
if [[ ! -d $peer/node_modules/node-llama-cpp ]]; then
  (cd "$peer" && npm install --no-audit --no-fund --silent node-llama-cpp@3.22.1 >/dev/null)
fi
cp "$here/bench/peer/greedy.mjs" "$peer/greedy.mjs"
llama=$(cd "$peer" && node greedy.mjs "$model" "$prompt" -n "$n")
prompt_ids=$(jq -c '.prompt_ids' <<<"$llama")
llama_ids=$(jq -c '.ids' <<<"$llama")
facet_prompt=$(printf '{"text": %s}\n' "$(jq -Rn --arg p "$prompt" '$p')" | "$facet" tokenize --vocab "$model" | jq -c '[2] + .ids')
facet_ids=$("$facet" run "$model" --tokens "$(jq -r 'join(",")' <<<"$prompt_ids")" -n "$n" 2>/dev/null | tr -s ' ,\n' ',' | sed 's/^,//; s/,$//')
# llama.cpp stops at an end-of-generation token (<eos> 1, <turn|> 106); cut facet's there too.
facet_ids=$(jq -c '(map(. == 1 or . == 106) | index(true)) as $i | if $i == null then . else .[:$i] end' <<<"[${facet_ids}]")
echo "prompt ids  llama.cpp $prompt_ids"
echo "            facet     $facet_prompt"
echo "greedy ids  llama.cpp $llama_ids"
echo "            facet     $facet_ids"
if [[ $prompt_ids == "$facet_prompt" && "$(jq -c . <<<"$llama_ids")" == "$(jq -c . <<<"$facet_ids")" ]]; then
  echo "same prompt and same greedy continuation"
else
  echo "error: facet and llama.cpp differ" >&2
  exit 1
fi
