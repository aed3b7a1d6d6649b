#!/usr/bin/env bash
# Every bench script at full size on the GPU test machine, then the targets table (printed
# last: only the output's tail comes back). About 6 minutes on one H200.
#
#   ASSETS=.bench OUT=$OUT bench/gpu.sh
#
# ASSETS: from bench/gpu-assets.sh (the demo's tokenizer and data, ~7 MB); ray and polars on
# PYTHONPATH (see bench/README.md, "On the GPU machine").
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ASSETS=${ASSETS:-.bench}
OUT=${OUT:-bench/out}
common=(--data "$ASSETS/data" --tokenizer "$ASSETS/tokenizer" --out "$OUT")
cpus=$(nproc)
tok=$(( cpus > 4 ? cpus - 4 : 1 ))  # tokenizer actors; the rest: the model actor, reads, writes
step() { echo "== $*"; timeout 240 python3 "$@" "${common[@]}" 2>&1 | grep -v -e "INFO" -e "it/s]" | tail -n 25; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
step bench/score.py --shape base --sentences 4000 --baseline-sentences 320 --budgets 16384 65536 131072
step bench/pretrain.py --shape base --steps 40 --warmup 5
step bench/pretrain.py --shape minilm --steps 40 --warmup 5
step bench/tag.py --shape base --source reviews --sentences 500000 --ceiling-sentences 200000 --skip-single \
  --shard-documents 5000 --tokenizer-actors "$tok"
step bench/tag.py --shape minilm --source dialog --sentences 100000 --tokenizer-actors "$tok"
step bench/scaling.py --shape base --source dialog --sizes 10000 100000 1000000 --shard-documents 5000 \
  --tokenizer-actors "$tok"
python3 bench/summary.py "$OUT"
