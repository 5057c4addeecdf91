#!/usr/bin/env bash
# Greedy chat replies of a model (64 tokens at most) to 16 prompts, some like the default
# model's chat rows and most not, and whether each reply ended its turn at <turn|>:
#
#   scripts/chat-check.sh [MODEL]      # default: the bundled default model
#
# A quick look at a chat stage, not a score: read the replies.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-$here/models/default/facet-brown-8m-f16.gguf}
facet=${FACET:-$here/build/facet}
err=$(mktemp)
trap 'rm -f "$err"' EXIT
ended=0; total=0
while IFS= read -r prompt; do
  out=$("$facet" run "$model" --chat -p "$(printf '%b' "$prompt")" -n 64 -v 2>"$err")
  stop=$(grep -o "stop: [a-z_]*" "$err" | tail -1)
  total=$((total+1)); [[ $stop == "stop: stop" ]] && ended=$((ended+1))
  printf '%-12s %s\n   -> %s\n' "[$stop]" "$prompt" "$(echo "$out" | tr '\n' ' ' | cut -c1-200)"
done <<'P'
Hello!
Good afternoon, friend.
hey
Who are you?
What can you do?
Thanks!
What is a river?
Tell me about baseball.
Repeat after me: The dog ran home.
What is the first word of this sentence?\n\nThe man walked to the store.
Write a sentence with the word "bridge".
Summarise this sentence: The mayor said the new bridge would open next spring after two years of work.
Tell me a story about a cat.
What is the opposite of big?
Continue this text:\n\nThe old house stood on the hill.
Goodbye!
P
echo "ended their turn: $ended of $total"
