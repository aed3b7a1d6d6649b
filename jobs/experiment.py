"""`taskpt experiment CONFIG.yaml`: does selective masking beat random masking here, and at what
cost. Every arm of `experiment.arms` is fine-tuned with `experiment.seeds` seeds (the same seeds
for every arm, so arms compare pair by pair) and evaluated on the test split; the stages the arms
share (the scorer, the tagger and its masks, each pretrained model) are computed once, through
the store. Steps that do not wait on each other run side by side, `compute.concurrent_stages`
at a time (jobs/graph.py). The record goes to `<store>/experiments/<fingerprint>/experiment.json`
(written last), with the report and its figures beside it (jobs/report.py).
python -m jobs.experiment CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import sys

from engine.contract import IMPORTANCE, fs, read_manifest
from engine.contract.store import read_model_info
from jobs.common import check_inputs, entry_point, say, tokenize_examples
from jobs.evaluate import test_arm
from jobs.finetune import finetune
from jobs.graph import run_steps
from jobs.mechanism import check_arm, mechanism_inputs
from jobs.plan import digest, make_plan
from jobs.pretrain import pretrain_steps
from jobs.report import EXPERIMENT_JSON, write_report
from jobs.score import score
from jobs.tag import tag
from jobs.train_tagger import train_tagger

RECORD_VERSION = 1
# The stages each arm's data comes from, as implemented: random masks take the selective
# arm's budget per sentence, DAPT reads the corpus as stage 4 tokenized it, TAPT the task's
# text as stage 2 split and tokenized it; DAPT+TAPT starts from the DAPT model.
SHARED_STAGES = {"general": [], "tapt": ["finetune-scorer", "score"],
                 "dapt": ["finetune-scorer", "score", "train-tagger", "tag"],
                 "dapt_tapt": ["finetune-scorer", "score", "train-tagger", "tag", "pretrain-dapt"],
                 "random": ["finetune-scorer", "score", "train-tagger", "tag", "random-masks"],
                 "selective": ["finetune-scorer", "score", "train-tagger", "tag", "selective-masks"],
                 "selective_content": ["finetune-scorer", "score", "train-tagger", "tag", "content-masks"]}
CORPUS_ARMS = {arm for arm, stages in SHARED_STAGES.items() if "tag" in stages}  # they need the corpus tagged


def for_experiment(cfg):
    """The config with the experiment's pretraining arms as `pretrain.arms`."""
    arms = [a for a in cfg.experiment.arms if a != "general"]
    return dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, arms=arms))


def seed_configs(cfg) -> list:
    """One config per fine-tuning seed: finetune.seed, +1, ... (the first is the pipeline's own).
    Each fine-tunes into make_plan(cfg, final_seed=...)'s paths: the upstream stages are shared."""
    return [dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune, seed=cfg.finetune.seed + i))
            for i in range(cfg.experiment.seeds)]


def steps(cfg, plan, seeds, plans, test: dict) -> dict:
    """Every step of the experiment with the steps it waits for, for `run_steps`. The chain to
    the masks (scorer, scoring, tagger, tagging) comes first: it is the longest, so it starts
    first whenever several steps are ready. A step whose output is in the store is a cache hit."""
    arms = set(cfg.experiment.arms)
    graph = {}
    if arms - {"general"}:
        graph["finetune-scorer"] = ([], functools.partial(finetune, cfg, plan))
        graph["score"] = (["finetune-scorer"], functools.partial(score, cfg, plan))
    if arms & CORPUS_ARMS:
        graph["train-tagger"] = (["score"], functools.partial(train_tagger, cfg, plan))
        graph["tag"] = (["train-tagger"], functools.partial(tag, cfg, plan))
    # The experiment's arms but general (for_experiment), and DAPT for DAPT+TAPT.
    graph.update(pretrain_steps(cfg, plan, lambda arm: "score" if plan.sources(arm)[1] == IMPORTANCE else "tag"))
    graph.update(mechanism_steps(cfg, plan))
    for seed_cfg, seed_plan in zip(seeds, plans):
        for arm in cfg.experiment.arms:
            waits_for = [] if arm == "general" else [f"pretrain-{arm}"]
            if arm == "general" and "finetune-scorer" in graph and seed_plan.finetuned[arm] == plan.general_finetuned:
                waits_for = ["finetune-scorer"]  # the same model as the scorer: trained once
            graph[f"{arm}-seed-{seed_cfg.finetune.seed}"] = (
                waits_for, functools.partial(fine_tune_and_test, seed_cfg, seed_plan, arm, test))
    return graph


def mechanism_steps(cfg, plan) -> dict:
    """`mechanism-ARM` for every pretrained arm of the experiment (and the general model with
    its warmed-up head, where there is one), where the corpus is tagged: the mechanism check
    (jobs/mechanism.py) on the same held-out sentences and masks for every arm."""
    if not set(cfg.experiment.arms) & CORPUS_ARMS:
        return {}
    inputs = functools.cache(lambda: mechanism_inputs(cfg, plan))  # read once, by the first step that runs

    def check(arm: str, model: str) -> dict:
        result = check_arm(model, inputs(), cfg.pretrain.max_seq)
        say("experiment", f"{arm}: masked-token accuracy {result['important_accuracy']:.4f} on the tagger's tokens, "
                          f"{result['other_accuracy']:.4f} on others ({result['sentences']} held-out sentences)")
        return result

    models = {arm: plan.pretrained[arm] for arm in cfg.experiment.arms if arm != "general"}
    if plan.warm_head and "general" in cfg.experiment.arms:
        models = {"general": plan.warm_head} | models  # the general encoder, with the head it starts from
    return {f"mechanism-{arm}": (["tag", "warm-head" if arm == "general" else f"pretrain-{arm}"],
                                 functools.partial(check, arm, model)) for arm, model in models.items()}


def fine_tune_and_test(cfg, plan, arm: str, test: dict) -> dict:
    """`test_arm`, saying which arm and seed (steps run side by side, so their lines mix)."""
    seed = cfg.finetune.seed
    say("experiment", f"{arm}, seed {seed}: fine-tuning")
    result = test_arm(cfg, plan, arm, test)
    say("experiment", f"{arm}, seed {seed}: test accuracy {result['test_accuracy']:.4f}")
    return result


def model_record(path: str) -> dict:
    info = read_model_info(path)
    metrics = info.get("metrics", {})
    return {"path": path, **info.get("compute", {}), "steps": metrics.get("step"), "train_rows": info.get("train_rows"),
            "history": metrics.get("history", []), "curve": metrics.get("curve", []),
            **({"before": metrics["before"]} if metrics.get("before") else {})}


def dataset_record(path: str) -> dict:
    manifest = read_manifest(path)
    return {"path": path, **manifest.compute, "rows": manifest.rows, "tokens": manifest.tokens}


def stages_used(arm: str, plan) -> list[str]:
    """The shared stages `arm`'s result depends on: SHARED_STAGES, and the head warm-up for a
    pretrained arm where there is one."""
    return SHARED_STAGES[arm] + (["warm-head"] if plan.warm_head and arm != "general" else [])


def shared_stages(cfg, plan) -> dict:
    """Each shared stage an arm of the experiment uses (`stages_used`): its output and what it
    cost when it was computed."""
    records = {
        "finetune-scorer": lambda: model_record(plan.general_finetuned),
        "score": lambda: dataset_record(plan.importance),
        "train-tagger": lambda: model_record(plan.tagger),
        "tag": lambda: dataset_record(plan.tagged),
        "random-masks": lambda: dataset_record(plan.random_masks),
        # At the tagging ratio itself the tagger's masks are the tagged dataset: no extra step.
        "selective-masks": lambda: dataset_record(plan.premasked) if plan.premasked != plan.tagged else
        {"path": plan.premasked, "seconds": 0.0, "device": "CPU"},
        "content-masks": lambda: dataset_record(plan.premasked_content),
        "pretrain-dapt": lambda: model_record(plan.pretrained["dapt"]),
        "warm-head": lambda: model_record(plan.warm_head),
    }
    used = {stage for arm in cfg.experiment.arms for stage in stages_used(arm, plan)}
    return {name: record() for name, record in records.items() if name in used}


def experiment(cfg, plan) -> dict:
    cfg = for_experiment(cfg)
    plan = make_plan(cfg)
    seeds = seed_configs(cfg)
    plans = [make_plan(cfg, final_seed=c.finetune.seed) for c in seeds]
    arms = cfg.experiment.arms
    out = fs.join(cfg.store, "experiments", digest(sorted(p.finetuned[a] for p in plans for a in arms)))
    if fs.is_file(fs.join(out, EXPERIMENT_JSON)):
        say("experiment", f"cache hit, {out}: the report is rebuilt from it (`taskpt report {out}`)")
        return write_report(out)
    say("experiment", f"arms {', '.join(arms)}; {len(seeds)} fine-tuning seed(s) each "
                      f"({', '.join(str(c.finetune.seed) for c in seeds)}); {cfg.compute.concurrent_stages} step(s) at once")
    task = check_inputs(cfg, corpus=bool(set(arms) & CORPUS_ARMS))
    test = tokenize_examples(task.test, cfg.model, cfg.finetune.max_seq)
    done = run_steps(steps(cfg, plan, seeds, plans, test), cfg.compute.concurrent_stages)
    runs = []
    for seed_cfg in seeds:
        for arm in arms:
            tested = dict(done[f"{arm}-seed-{seed_cfg.finetune.seed}"])
            model = tested.pop("model")  # model_record names it `path`
            runs.append({**tested, "seed": seed_cfg.finetune.seed, **model_record(model)})
    pretrained = {arm: model_record(path) for arm, path in plan.pretrained.items()}
    record = {"version": RECORD_VERSION, "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "description": cfg.description, "model": cfg.model, "task": dataclasses.asdict(cfg.task),
              "corpus": cfg.domain.corpus, "arms": arms, "seeds": [c.finetune.seed for c in seeds],
              "labels": task.labels, "test_examples": task.test.height, "runs": runs,
              "stages": shared_stages(cfg, plan), "uses": {arm: stages_used(arm, plan) for arm in arms},
              "pretrain": pretrained,
              "mechanism": {name.removeprefix("mechanism-"): result for name, result in done.items()
                            if name.startswith("mechanism-")}}
    fs.write_bytes(fs.join(out, "config.yaml"), cfg.to_yaml().encode())
    return write_report(out, record)


def main(argv: list[str] | None = None) -> int:
    return entry_point("experiment", experiment, argv)


if __name__ == "__main__":
    sys.exit(main())
