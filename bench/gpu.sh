#!/usr/bin/env bash
# Every bench script at full size on the GPU test machine, then the targets table (printed
# last: only the output's tail comes back). At most 9 minutes; run it with timeout_s 600.
#
#   ASSETS=.bench OUT=$OUT bench/gpu.sh
#   QUICK=1 ASSETS=.bench bench/gpu.sh      # the same plumbing with tiny models and sizes, on CPU
#   STEPS="score tag-reviews" ...           # only the named steps (score pretrain-base pretrain-minilm
#                                           # tag-reviews tag-dialog scaling; score-large, tag-reviews-large,
#                                           # tag-reviews-padded, tag-reviews-shards, tag-reviews-compiled,
#                                           # host-cost, host-work, cold-start and train-job only when named)
#
# ASSETS: from bench/gpu-assets.sh (the demo's tokenizer and data, ~7 MB); ray and polars on
# PYTHONPATH (see bench/README.md, "On the GPU machine").
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ASSETS=${ASSETS:-.bench}
OUT=${OUT:-bench/out}
PY=${PYTHON:-python3}
# The GPU machine sets PYTHONDONTWRITEBYTECODE, so every process, each Ray worker too, compiled
# torch and transformers from source: 10-17 s before a model actor could start (2026-11-27, with
# a dozen processes starting at once: up to 42 s). A bytecode cache outside the read-only
# installs, filled once here, gives what an ordinary install has.
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ]; then
  unset PYTHONDONTWRITEBYTECODE
  export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-/tmp/taskpt-pycache}
  "$PY" -c "import torch, transformers.models.bert.modeling_bert, ray.data, polars, engine.pipelines, engine.bert" || exit
fi
common=(--data "$ASSETS/data" --tokenizer "$ASSETS/tokenizer" --out "$OUT")
cpus=$(nproc)
tok=$(( cpus > 4 ? cpus - 4 : 1 ))  # tokenizer actors; the rest: the model actor, reads, writes
if [ "${QUICK:-0}" = 1 ]; then
  base=tiny; mini=tiny; k=1000; steps=1
else
  base=base; mini=minilm; k=1; steps=40
fi
n() { echo $(( $1 / k > 100 ? $1 / k : 100 )); }
# Each step has its own limit (seconds, first argument) so that one stuck step cannot take the
# call's whole 10 minutes: the default steps' limits add up to 570 s, and summary.py reads
# whatever finished.
default_steps="score pretrain-base pretrain-minilm tag-reviews tag-dialog scaling"
step() { local name=$1 limit=$2; shift 2
  case " ${STEPS:-$default_steps} " in *" $name "*) ;; *) return ;; esac
  echo "== $*"
  timeout "$limit" "$PY" "$@" "${common[@]}" 2>&1 | grep -v -e "INFO" -e "it/s]" | tail -n 25; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
step score 130 bench/score.py --shape $base --sentences "$(n 4000)" --baseline-sentences "$(n 320)"
# Scoring with four times the sentences in a call, and calls of 8,192: passes at 4,000 are about a
# third of the token budget (the rule cannot take fewer passes than the longest sentence has
# wordpieces); with more sentences, packed passes run near the budget (engine.rule_passes), and
# `taskpt score` calls an actor once per score.shard_examples.
# Also with the layers compiled (compute.compile_model; its first time includes compiling), and
# one more default call under PyTorch's sync debug mode and profiler (device_waits). And with larger
# token budgets: the rolling schedule budgets every sentence as if it kept all its tokens, so a
# 65,536-token pass held ~42,000 real ones (runs 3 and 4).
step score-large 300 bench/score.py --shape $base --sentences "$(n 16000)" --baseline-sentences "$(n 320)" \
  --shard-sentences "$(n 2048)" "$(n 8192)" --compile-model --budgets 98304 131072 --suffix=-large
step pretrain-base 50 bench/pretrain.py --shape $base --steps $steps --warmup 5
step pretrain-minilm 40 bench/pretrain.py --shape $mini --steps $steps --warmup 5
step tag-reviews 150 bench/tag.py --shape $base --source reviews --sentences "$(n 500000)" \
  --ceiling-sentences "$(n 200000)" --ceiling-budgets 16384 32768 131072 --skip-single --tokenizer-actors "$tok"
# The same at 5M sentences: the job's start (~20 s on the H200) counts for less, as in a real corpus.
step tag-reviews-large 240 bench/tag.py --shape $base --source reviews --sentences "$(n 5000000)" \
  --ceiling-sentences "$(n 200000)" --skip-single --tokenizer-actors "$tok" --suffix=-large
step tag-dialog 80 bench/tag.py --shape $mini --source dialog --sentences "$(n 100000)" --tokenizer-actors "$tok"
step scaling 120 bench/scaling.py --shape $base --source dialog --sizes "$(n 10000)" "$(n 100000)" "$(n 1000000)" \
  --tokenizer-actors "$tok"
# Not by default: the same tagging run with sentences padded (compute.pack_sequences: false; on
# a GPU they are packed by default), to compare with tag-reviews; and what one training job costs
# beyond its steps (two jobs, ~1 minute).
step tag-reviews-padded 150 bench/tag.py --shape $base --source reviews --sentences "$(n 500000)" \
  --ceiling-sentences "$(n 200000)" --skip-single --tokenizer-actors "$tok" --no-pack-sequences
# And tagging with shards of 20,000 documents, the forward alone also timed shard by shard with
# shards of 10,000 and 50,000, cold and warm: a shard's sentences are grouped on their own, so
# larger shards mean fewer passes (fewer new batch shapes) and less padding (200,000 review
# sentences at 65,536 tokens a pass: 139 passes, 29% padding, 75 shapes in shards of 5,000
# documents; 87, 16%, 14 in 50,000: bench/grouping.py).
step tag-reviews-shards 150 bench/tag.py --shape $base --source reviews --sentences "$(n 500000)" \
  --ceiling-sentences "$(n 200000)" --skip-single --tokenizer-actors "$tok" --shard-documents "$(n 20000)" \
  --shard-sweep "$(n 10000)" "$(n 50000)"
# Tagging with the layers compiled (compute.compile_model): the ceiling and the engine both compiled.
step tag-reviews-compiled 200 bench/tag.py --shape $base --source reviews --sentences "$(n 500000)" \
  --ceiling-sentences "$(n 200000)" --skip-single --tokenizer-actors "$tok" --compile-model
# What a small forward pass costs the host: Hugging Face's BERT against the engine's (engine/bert.py).
step host-cost 60 bench/host_cost.py --shape $base --rows 64 --tokens 16
# What a shard costs the model actors' host outside the forward passes (the encoder replaced by a stand-in).
step host-work 60 bench/host_work.py --shape $base
# Where a tagging model actor's start goes (imports, the device, the weights, its first calls), in a fresh process.
step cold-start 60 bench/cold_start.py --shape $base
step train-job 120 bench/train_job.py --shape $mini --documents "$(n 40000)" --steps 20 --runs 1
"$PY" bench/summary.py "$OUT"
