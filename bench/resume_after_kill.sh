#!/bin/bash
# What a killed tagging job costs: tag N documents of the demo corpus in shards of 1,000,
# SIGKILL the job (its whole process group, a local Ray included) once half the shards are in
# place, run it again, and compare with the same stage run without interruption in another store.
# Needs a finished `make demo` (it reuses the demo's tagger).
#   bench/resume_after_kill.sh [DOCUMENTS]      (default 12000: 12 shards)
set -euo pipefail
export HF_HUB_OFFLINE=1
DOCS=${1:-12000}
SHARDS=$(( (DOCS + 999) / 1000 ))
TASKPT=.venv/bin/taskpt
OVERRIDE="domain.max_documents=$DOCS"
SHARDING="tag.shard_documents=1000"
plan() { .venv/bin/python -c "
from jobs.config import load_config; from jobs.plan import make_plan
p = make_plan(load_config('configs/demo.yaml', ['$OVERRIDE', '$SHARDING'] + ['$1'] * bool('$1'))); print(p.$2)"; }
OUT=$(plan "" tagged)
REF_STORE=$(mktemp -d)
TAGGER=$(plan "" tagger); REF_TAGGER=$(plan "store=$REF_STORE" tagger)
mkdir -p "$(dirname "$REF_TAGGER")" && cp -r "$TAGGER" "$REF_TAGGER"
now() { date +%s.%N; }

start=$(now)
setsid $TASKPT tag configs/demo.yaml "$OVERRIDE" "$SHARDING" > /tmp/bench-resume-killed.log 2>&1 &
job=$!
until [ "$(ls "$OUT"/*.parquet 2>/dev/null | wc -l)" -ge $((SHARDS / 2)) ]; do sleep 0.2; done
kill -9 -- -$job; wait $job 2>/dev/null || true
echo "killed after $(echo "$(now) - $start" | bc) s with $(ls "$OUT"/*.parquet | wc -l) of $SHARDS shards in place"
sleep 3
start=$(now)
$TASKPT tag configs/demo.yaml "$OVERRIDE" "$SHARDING" > /tmp/bench-resume-rerun.log 2>&1
echo "rerun: $(echo "$(now) - $start" | bc) s"; grep "resuming" /tmp/bench-resume-rerun.log
start=$(now)
$TASKPT tag configs/demo.yaml "$OVERRIDE" "$SHARDING" "store=$REF_STORE" > /tmp/bench-resume-full.log 2>&1
echo "uninterrupted: $(echo "$(now) - $start" | bc) s"
.venv/bin/python -c "
import json
a = json.load(open('$OUT/manifest.json'))['shards']; b = json.load(open('$(plan "store=$REF_STORE" tagged)/manifest.json'))['shards']
print('shards identical (name, rows, sha256):', a == b, len(a))"
