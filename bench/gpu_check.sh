#!/usr/bin/env bash
# Every GPU check in one device call (the device machine has no network; $OUT is the folder that comes back):
#   ../shared/tools/device-prep.sh
#   mkdir -p .cache/imdb/plain_text && cp ../shared/data/imdb/plain_text/train-00000-of-00001.parquet .cache/imdb/plain_text/
#   device run: carry [".device", "node_modules", ".cache/imdb"], timeout_s 600,
#               command "bash .device/run.sh bash bench/gpu_check.sh"
# Only a few small files come back from $OUT, so models, checkpoints and full logs live under $WORK (/tmp);
# $OUT gets summary.txt and one archive gpu-check.tar.gz (logs cut to their last 256 KiB, JSON summaries;
# under 8 MiB). The whole script has one time budget (GPU_CHECK_BUDGET, default 470 s) so that a 600 s call
# ends with its summary printed and a rerun still fits the 15-minute device budget; each step is capped by
# its own limit and by what is left of the budget, a step with under 15 s left is skipped, and a failing
# step does not stop the rest. Steps run most valuable first: adapter info; base at seq 256 × batch 32
# train beside the PyTorch CUDA peer (f32, then --fp16 against autocast); matmul GFLOP/s f32 and f16; the
# GPU tests; a short run's export checked in transformers; the notebook's job (4,000 reviews, 2 epochs).
# GPU_CHECK_QUICK=1 shrinks every step (tiny model, small shapes) to dry-run the script on a CPU adapter.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check-out}
WORK=${GPU_CHECK_WORK:-/tmp/gpu-check-work}
BUDGET=${GPU_CHECK_BUDGET:-470}
quick=${GPU_CHECK_QUICK:-0}
rm -rf "$WORK"
mkdir -p "$OUT" "$WORK/logs" "$WORK/json"
logs=$WORK/logs json=$WORK/json
summary=()
step() { # name, limit seconds, command...: runs it capped by min(limit, budget left)
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET - SECONDS))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then
    summary+=("$(printf '%-18s skipped: %ss left of %ss' "$name" "$left" "$BUDGET")")
    return
  fi
  local t0=$SECONDS
  echo "== $name (limit ${limit}s)"
  timeout -k 5 "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$logs/$name.log"
  local note=""
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && note=" (time limit)"
  summary+=("$(printf '%-18s rc=%-3s %4ss%s' "$name" "$rc" "$((SECONDS - t0))" "$note")")
}
data=.cache/imdb
[ -f "$data/plain_text/train-00000-of-00001.parquet" ] || data=assets/imdb-sample
sample_test=assets/imdb-sample/plain_text/test-00000-of-00001.parquet
tests=(tests/ops_test.ts tests/matmul_test.ts tests/composed_test.ts tests/trainer_test.ts tests/mixed_precision_test.ts)

step info 30 deno task info
if [ "$quick" = 1 ]; then
  train=(--presets tiny --seqs 64 --batch 4 --steps 1 --no-padding)
  step bench-base32 90 deno task bench train "${train[@]}" --json "$json/train-base-b32.json"
  # No peer here: on a CPU PyTorch runs f32 (no autocast), which the step above already timed.
  step bench-base32-fp16 150 deno task bench train "${train[@]}" --fp16 --no-peer --json "$json/train-base-b32-fp16.json"
  step matmul 60 deno task bench matmul --sizes 256 --no-distilbert --json "$json/matmul.json"
  step matmul-f16 45 deno task bench matmul --fp16 --sizes 256 --no-distilbert --json "$json/matmul-f16.json"
  step tests 150 deno test -A tests/matmul_test.ts
  short=(--preset tiny --train-samples 64 --eval-samples 32 --max-length 64 --epochs 1)
  job=(--preset tiny --train-samples 64 --eval-samples 32 --max-length 64 --epochs 1)
else
  train=(--presets base --seqs 256 --batch 32 --steps 5 --no-padding)
  step bench-base32 75 deno task bench train "${train[@]}" --json "$json/train-base-b32.json"
  step bench-base32-fp16 60 deno task bench train "${train[@]}" --fp16 --json "$json/train-base-b32-fp16.json"
  step matmul 60 deno task bench matmul --sizes 1024,2048,4096 --json "$json/matmul.json"
  step matmul-f16 45 deno task bench matmul --fp16 --sizes 1024,2048,4096 --json "$json/matmul-f16.json"
  step tests 100 deno test -A "${tests[@]}"
  short=(--train-samples 256 --eval-samples 64 --max-steps 20)
  job=(--train-samples 4000 --epochs 2)
fi
# The export check on a short run of the default model (pretrained when cached, else the tiny fallback).
HF_HUB_OFFLINE=1 step short-run 60 deno task train --data "$data" --eval-data "$sample_test" "${short[@]}" \
  --output "$WORK/short" --overwrite-output-dir
if [ -f "$WORK/short/model.safetensors" ]; then
  deno run -A --quiet - "$WORK/reviews.jsonl" >/dev/null <<'TS'
import { readImdbParquet } from "./data/imdb.ts";
const { texts } = await readImdbParquet("assets/imdb-sample/plain_text/test-00000-of-00001.parquet");
await Deno.writeTextFile(Deno.args[0], texts.slice(0, 64).map((t) => JSON.stringify({ text: t })).join("\n") + "\n");
TS
  step predict 45 sh -c "deno task predict --model '$WORK/short' --json --file '$WORK/reviews.jsonl' > '$json/ours.jsonl'"
  # The first Python with torch: the device's, the HF reference venv (here), Debian's.
  py=/usr/bin/python3
  for p in python3 "$HOME/.cache/distilbert-webgpu/hf-venv/bin/python"; do
    "$p" -c "import torch" 2>/dev/null && { py=$p; break; }
  done
  step hf-check 60 "$py" bench/hf_check.py "$WORK/short" "$json/ours.jsonl"
fi
# The notebook's job last, with whatever is left of the budget (its 1,000 s limit is never the cap).
HF_HUB_OFFLINE=1 step notebook-job 1000 deno task train --data "$data" --eval-data "$sample_test" "${job[@]}" \
  --output "$WORK/run" --overwrite-output-dir
[ -f "$WORK/run/log.jsonl" ] && cp "$WORK/run/log.jsonl" "$json/notebook-log.jsonl"

{
  echo "gpu_check: $(date -u +%FT%TZ), budget ${BUDGET}s, quick=$quick, ${SECONDS}s"
  grep -h "^adapter\|shader-f16" "$logs/info.log" 2>/dev/null
  grep -h -A3 "ours / PyTorch" "$logs/bench-base32.log" "$logs/bench-base32-fp16.log" 2>/dev/null
  grep -H "4096³\|2048³\|256³\|timing with" "$logs/matmul.log" "$logs/matmul-f16.log" 2>/dev/null |
    sed "s|^$logs/||"
  grep -h "passed\|failed" "$logs/tests.log" 2>/dev/null | tail -1
  tail -n 1 "$logs/hf-check.log" 2>/dev/null
  grep -h "^done:\|eval_accuracy" "$logs/notebook-job.log" 2>/dev/null | tail -2
  printf '%s\n' "${summary[@]}"
} >"$OUT/summary.txt"
# Logs are cut to their ends (where the results and errors are) so the archive stays small.
for f in "$logs"/*.log; do
  [ -f "$f" ] || continue
  tail -c 262144 "$f" >"$f.tail" && mv "$f.tail" "$f"
done
tar -C "$WORK" -czf "$OUT/gpu-check.tar.gz" logs json
echo "== summary ($OUT/summary.txt; logs and JSON in $OUT/gpu-check.tar.gz, $(du -k "$OUT/gpu-check.tar.gz" | cut -f1) KiB)"
cat "$OUT/summary.txt"
