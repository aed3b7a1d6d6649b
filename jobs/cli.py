"""The `taskpt` command: `taskpt run CONFIG.yaml` (all stages) or one stage by name; any
config key can follow as key.sub=value."""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "run": ("jobs.run", "all stages, skipping those already in the store"),
    "finetune": ("jobs.finetune", "stage 1: fine-tune the general model (the scorer)"),
    "score": ("jobs.score", "stage 2: score token importance on the labeled set"),
    "train-tagger": ("jobs.train_tagger", "stage 3: train the token tagger"),
    "tag": ("jobs.tag", "stage 4: tag the domain corpus, choose masks, derive the random baseline"),
    "pretrain": ("jobs.pretrain", "stage 5: masked-LM continued pretraining, one run per arm"),
    "evaluate": ("jobs.evaluate", "stage 6: fine-tune every arm and report test metrics"),
    "experiment": ("jobs.experiment", "every arm x seed fine-tuned and tested; the report: does selective masking win"),
    "report": ("jobs.report", "report RUN_DIR: rebuild an experiment's report and figures, no training"),
    "store": ("jobs.store", "store ls | store verify ID: the datasets in the store, and their integrity"),
    "inspect": ("jobs.inspect_masks", "inspect ID: sentences with their masks, masks per word class"),
    "overlap": ("jobs.overlap", "overlap A B ...: vocabulary overlap of corpora (top-10K words), as a heatmap"),
    "submit": ("jobs.submit", "submit CONFIG.yaml [--stage S]: run on a Ray cluster as a Ray job"),
    "logs": ("jobs.submit", "logs ID [--follow]: a submitted job's output"),
    "status": ("jobs.submit", "status ID: a submitted job's state"),
    "stop": ("jobs.submit", "stop ID: stop a submitted job"),
}
JOB_COMMANDS = {"submit", "logs", "status", "stop"}  # one module, told which command it is


def usage() -> str:
    lines = ["usage: taskpt COMMAND CONFIG.yaml [key.sub=value ...]",
             "       taskpt store ls|verify|gc ...   taskpt inspect ID ...   taskpt overlap A B ... [--out DIR]",
             "       taskpt submit CONFIG.yaml [--stage S] [--address URL]   taskpt logs|status|stop ID", "", "commands:"]
    lines += [f"  {name:<13} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"taskpt: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:], command=argv[0]) if argv[0] in JOB_COMMANDS else module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
