#!/usr/bin/env bash
# Fine-tunes the tiny real-vocabulary test model on a synthetic rule and prints the loss
# curve: prompts "Code 4 8 2 7 is", answer the colour of the code's last digit (0 red,
# 1 blue, ... 9 white); the eval file holds codes that never occur in training.
# Usage: scripts/finetune-demo.sh [OUT_DIR]   (needs build/facet; about a minute on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/facet-finetune-demo}
mkdir -p "$out"
model=$out/tiny-realvocab-learn.gguf  # real Gemma 4 tokenizer, random 2-layer decoder, 128 wide
[ -f "$model" ] || ./build/facet make-test-model --config models/configs/tiny-realvocab-learn.json --out "$model"
python3 - "$out" <<'PY'
import json, random, sys
colors = ["red", "blue", "green", "yellow", "purple", "orange", "pink", "brown", "black", "white"]
rng = random.Random(2026)
seen = set()
def codes(n):
    rows = []
    while len(rows) < n:
        d = [rng.randrange(10) for _ in range(4)]
        key = " ".join(map(str, d))
        if key in seen:
            continue
        seen.add(key)
        rows.append({"prompt": f"Code {key} is", "completion": " " + colors[d[-1]]})
    return rows
for name, n in (("train", 160), ("eval", 40)):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as f:
        for row in codes(n):
            f.write(json.dumps(row) + "\n")
PY
./build/facet finetune "$model" --data "$out/train.jsonl" --eval-file "$out/eval.jsonl" --output "$out/run" \
  --lora-r ${RANK:-8} --lora-alpha ${ALPHA:-16} --lr ${LR:-3e-2} --epochs ${EPOCHS:-4} --batch-size 1 --grad-accum 4 --warmup-steps 5 \
  --eval-steps 40 --save-steps 80
echo "loss curve from $out/run/training_log.jsonl:"
python3 - "$out/run/training_log.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "eval_loss" in r:
        print(f"  step {r['step']:3d}  eval_loss {r['eval_loss']:.4f}")
    elif r["step"] % 10 == 0 or r["step"] == 1:
        print(f"  step {r['step']:3d}  loss {r['loss']:.4f}  lr {r['lr']:.2e}  {r['tokens_per_s']:.0f} tok/s")
PY
echo "greedy answers of the adapted model (facet run --lora) on held-out codes:"
head -5 "$out/eval.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r["prompt"] + "\t" + r["completion"])
' | while IFS=$'\t' read -r prompt want; do
  got=$(./build/facet run "$model" --lora "$out/run" -p "$prompt" -n 3 --temp 0 2>/dev/null)
  echo "  $prompt ->$got   (want$want)"
done
