#!/usr/bin/env bash
# The demo experiment at GPU size (configs/demo-gpu.yaml) on the GPU test machine, whose record,
# report and figures go to docs/results/. A call carries 64 MiB and a warm machine keeps
# git-ignored folders between calls, so it takes three calls in a row (bench/gpu-experiment-assets.sh
# makes the .gpu-* parts first):
#   carry [".whl-polars", ".gpu-a"]:  bench/gpu-experiment.sh install .whl-polars
#   carry [".whl", ".gpu-b"]:         bench/gpu-experiment.sh install .whl
#   carry [".gpu-c"]:                 OUT=$OUT bench/gpu-experiment.sh run
# `run` assembles data/demo, runs `taskpt experiment` (as python -m jobs.experiment: the wheels
# install no console script) and copies the experiment's folder, its log and the machine's
# description to $OUT. Stopped by LIMIT (seconds), it can be run again: finished stages and
# fine-tunes are in the store and are not redone.
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=$PWD:$PWD/.site PATH=$PWD/.site/bin:$PATH
CONFIG=${CONFIG:-configs/demo-gpu.yaml}
OUT=${OUT:-bench/out}
case ${1:-} in
install)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target .site "$2"/*.whl
  ls .site | head -n 40 | tr '\n' ' '; echo ;;
run)
  for part in .gpu-a/weights.xz.a .gpu-b/weights.xz.b .gpu-c/weights.xz.c; do
    [ -f "$part" ] || { echo "missing $part: the machine went cold between calls; start again"; exit 2; }
  done
  if [ ! -f data/demo/model/model.safetensors ]; then
    mkdir -p data/demo/model && cp .gpu-c/model/* data/demo/model/
    tar -C data/demo -xJf .gpu-c/demo-text.tar.xz
    cat .gpu-a/weights.xz.a .gpu-b/weights.xz.b .gpu-c/weights.xz.c | xz -dc > data/demo/model/model.safetensors.tmp \
      && mv data/demo/model/model.safetensors.tmp data/demo/model/model.safetensors || exit 2
  fi
  mkdir -p "$OUT"
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; python3 --version
    python3 -c "import torch, transformers, ray, polars; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      'transformers', transformers.__version__, 'ray', ray.__version__, 'polars', polars.__version__)"; } \
    > "$OUT/machine.txt" 2>&1
  cat "$OUT/machine.txt"
  started=$(date +%s)
  timeout "${LIMIT:-540}" python3 -m jobs.experiment "$CONFIG" > "$OUT/experiment.log" 2>&1
  rc=$?
  echo "exit $rc after $(( $(date +%s) - started )) s" | tee -a "$OUT/experiment.log"
  store=$(python3 -c "import yaml; print(yaml.safe_load(open('$CONFIG'))['store'])")
  [ -d "$store/experiments" ] && cp -r "$store/experiments" "$OUT/"
  grep -v -e "it/s]" -e "INFO" -e "Running Dataset" -e "^\s*$" "$OUT/experiment.log" | tail -n 60 ;;
*)
  echo "usage: bench/gpu-experiment.sh install WHEEL_DIR | run"; exit 2 ;;
esac
