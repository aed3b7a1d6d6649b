#!/usr/bin/env bash
# What bench/gpu-experiment.sh needs on the GPU machine and a call cannot carry at once (a call
# takes 64 MiB): the demo model's weights (91 MB, xz-compressed to 82 MB) in three parts, one
# beside polars (.gpu-a), one beside ray (.gpu-b), the last with the model's other files and the
# demo text (.gpu-c). All git-ignored. Run after `make demo-data`.
set -euo pipefail
model=$(readlink -f data/demo/model)
rm -rf .gpu-a .gpu-b .gpu-c && mkdir -p .gpu-a .gpu-b .gpu-c/model
xz -T0 -6 -c "$model/model.safetensors" > .gpu-c/weights.xz
# part a fills what polars leaves of 64 MiB, part b what ray leaves; the rest goes in part c.
part() { dd if=.gpu-c/weights.xz of="$1" bs=1M iflag=skip_bytes,count_bytes status=none "${@:2}"; }
part .gpu-a/weights.xz.a count=10000000
part .gpu-b/weights.xz.b skip=10000000 count=17000000
part .gpu-c/weights.xz.c skip=27000000 && rm .gpu-c/weights.xz
(cd "$model" && cp config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt \
  "$OLDPWD/.gpu-c/model/")
tar -C data/demo -cJf .gpu-c/demo-text.tar.xz train.tsv dev.tsv test.tsv corpus.csv
du -sb .gpu-a .gpu-b .gpu-c .whl-polars .whl
