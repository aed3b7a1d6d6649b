#!/usr/bin/env bash
# What bench/gpu.sh needs that the GPU machine lacks, into .bench/ (git-ignored, ~7 MB): the
# demo model's tokenizer (the real BERT uncased vocabulary; the weights stay behind, the
# benches build random ones) and the demo's review and dialog text. Run after `make demo-data`.
set -euo pipefail
mkdir -p .bench/tokenizer .bench/data
model=$(readlink -f data/demo/model)
for f in tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json; do cp "$model/$f" .bench/tokenizer/; done
cp data/demo/train.tsv data/demo/corpus.csv .bench/data/
du -sh .bench
