"""`taskpt experiment CONFIG.yaml`: does selective masking beat random masking here, and at what
cost. Every pretrained arm of `experiment.arms` is pretrained `experiment.pretrain_seeds` times
(pretraining draws), every arm and draw fine-tuned with `experiment.seeds` seeds (the same seeds
for every arm, so arms compare pair by pair) and evaluated on the test split; the stages the arms
share (the scorer, the tagger and its masks, each pretrained model) are computed once, through
the store. Every pretrained model also takes the mechanism check (jobs/mechanism.py). Steps that do not wait on each other run side by side, `compute.concurrent_stages`
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
from jobs.tag import random_masks, tag
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


@dataclasses.dataclass(frozen=True)
class Replicate:
    """One pretraining draw of the experiment: every pretrained arm pretrained with
    pretrain.seed + index (its random masks and packing with seed + index), then fine-tuned
    with every fine-tuning seed."""
    index: int
    cfg: object                 # the config with pretrain.seed + index
    plan: object                # make_plan(cfg, replicate=index)
    seeds: list                 # (config, plan) per fine-tuning seed

    @property
    def suffix(self) -> str:
        """Added to its steps' names: none for the first draw."""
        return f"@p{self.index}" if self.index else ""


def replicates(cfg) -> list[Replicate]:
    """experiment.pretrain_seeds draws; the first is the pipeline's own (pretrain.seed)."""
    out = []
    for index in range(cfg.experiment.pretrain_seeds):
        drawn = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, seed=cfg.pretrain.seed + index))
        # Planned from the draw's own config: only the final fine-tunes take the seed's (the
        # scorer, which is fine-tuned too, keeps finetune.seed, so everything upstream is shared).
        seeds = [(c, make_plan(drawn, final_seed=c.finetune.seed, replicate=index)) for c in seed_configs(drawn)]
        out.append(Replicate(index, drawn, make_plan(drawn, replicate=index), seeds))
    return out


def steps(cfg, plan, reps: list[Replicate], test: dict) -> dict:
    """Every step of the experiment with the steps it waits for, for `run_steps`. The chain to
    the masks (scorer, scoring, tagger, tagging) comes first: it is the longest, so it starts
    first whenever several steps are ready. A step whose output is in the store is a cache hit.
    The general arm does not pretrain: its fine-tunes are those of the first draw."""
    arms = set(cfg.experiment.arms)
    graph = {}
    if arms - {"general"}:
        graph["finetune-scorer"] = ([], functools.partial(finetune, cfg, plan))
        graph["score"] = (["finetune-scorer"], functools.partial(score, cfg, plan))
    if arms & CORPUS_ARMS:
        graph["train-tagger"] = (["score"], functools.partial(train_tagger, cfg, plan))
        graph["tag"] = (["train-tagger"], functools.partial(tag, cfg, plan))
    for rep in reps:
        suffix = rep.suffix
        if rep.index and "random" in arms:  # this draw's random masks, from the stored tagger masks
            graph[f"random-masks{suffix}"] = (["tag"], functools.partial(random_masks, rep.cfg, rep.plan))

        def data_step(arm: str, rep=rep) -> str:
            if rep.plan.sources(arm)[1] == IMPORTANCE:
                return "score"
            return f"random-masks{rep.suffix}" if arm == "random" and rep.index else "tag"

        # The experiment's arms but general (for_experiment), and DAPT for DAPT+TAPT.
        graph.update(pretrain_steps(rep.cfg, rep.plan, data_step, suffix))
        graph.update(mechanism_steps(rep.cfg, rep.plan, suffix))
        for seed_cfg, seed_plan in rep.seeds:
            for arm in cfg.experiment.arms:
                if arm == "general" and rep.index:
                    continue
                waits_for = [] if arm == "general" else [f"pretrain-{arm}{suffix}"]
                if arm == "general" and "finetune-scorer" in graph and seed_plan.finetuned[arm] == plan.general_finetuned:
                    waits_for = ["finetune-scorer"]  # the same model as the scorer: trained once
                graph[f"{arm}{suffix}-seed-{seed_cfg.finetune.seed}"] = (
                    waits_for, functools.partial(fine_tune_and_test, seed_cfg, seed_plan, arm, test))
    return graph


def mechanism_steps(cfg, plan, suffix: str = "") -> dict:
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
    return {f"mechanism-{arm}{suffix}": (["tag", f"warm-head{suffix}" if arm == "general" else f"pretrain-{arm}{suffix}"],
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


def stage_outputs(plan) -> dict:
    """Each shared stage's output in `plan`, and how to read what it cost."""
    def free(path: str) -> dict:  # at the tagging ratio the tagger's masks are the tagged dataset
        return {"path": path, "seconds": 0.0, "device": "CPU"}

    return {"finetune-scorer": (plan.general_finetuned, model_record), "score": (plan.importance, dataset_record),
            "train-tagger": (plan.tagger, model_record), "tag": (plan.tagged, dataset_record),
            "random-masks": (plan.random_masks, dataset_record),
            "selective-masks": (plan.premasked, dataset_record if plan.premasked != plan.tagged else free),
            "content-masks": (plan.premasked_content, dataset_record),
            "pretrain-dapt": (plan.pretrained.get("dapt"), model_record), "warm-head": (plan.warm_head, model_record)}


def shared_stages(cfg, reps: list[Replicate]) -> tuple[dict, dict]:
    """The shared stages each arm of the experiment uses (`stages_used`), with their outputs and
    what they cost, and per arm the names of those it uses. A stage a later pretraining draw
    computes again (its random masks, head warm-up, DAPT model) is there once per draw, named
    with the draw's suffix, so an arm pays for every draw."""
    first = stage_outputs(reps[0].plan)
    stages, uses = {}, {}
    for arm in cfg.experiment.arms:
        uses[arm] = []
        for rep in reps[:1] if arm == "general" else reps:
            outputs = stage_outputs(rep.plan)
            for name in stages_used(arm, rep.plan):
                path, read = outputs[name]
                key = name if path == first[name][0] else name + rep.suffix
                if key not in stages:
                    stages[key] = read(path)
                if key not in uses[arm]:
                    uses[arm].append(key)
    return stages, uses


def mechanism_record(done: dict, reps: list[Replicate], arms: list[str]) -> dict:
    """The mechanism check per arm, in the order of `arms`: accuracies averaged over the
    pretraining draws (the same sentences and masks in each), and every draw's result."""
    record = {}
    for arm in [a for a in arms if f"mechanism-{a}" in done]:
        draws = [done[f"mechanism-{arm}{rep.suffix}"] for rep in reps if f"mechanism-{arm}{rep.suffix}" in done]
        record[arm] = {**draws[0], **{k: sum(d[k] for d in draws) / len(draws)
                                      for k in ("important_accuracy", "other_accuracy")}, "draws": draws}
    return record


def experiment(cfg, plan) -> dict:
    cfg = for_experiment(cfg)
    reps = replicates(cfg)
    plan, seeds = reps[0].plan, [c for c, _ in reps[0].seeds]
    arms = cfg.experiment.arms
    models = {p.finetuned[a] for rep in reps for _, p in rep.seeds for a in arms if a != "general" or not rep.index}
    out = fs.join(cfg.store, "experiments", digest(sorted(models)))
    if fs.is_file(fs.join(out, EXPERIMENT_JSON)):
        say("experiment", f"cache hit, {out}: the report is rebuilt from it (`taskpt report {out}`)")
        return write_report(out)
    say("experiment", f"arms {', '.join(arms)}; {len(reps)} pretraining seed(s) "
                      f"({', '.join(str(r.cfg.pretrain.seed) for r in reps)}) x {len(seeds)} fine-tuning seed(s) "
                      f"({', '.join(str(c.finetune.seed) for c in seeds)}); {cfg.compute.concurrent_stages} step(s) at once")
    task = check_inputs(cfg, corpus=bool(set(arms) & CORPUS_ARMS))
    test = tokenize_examples(task.test, cfg.model, cfg.finetune.max_seq)
    done = run_steps(steps(cfg, plan, reps, test), cfg.compute.concurrent_stages)
    runs = []
    for rep in reps:
        for seed_cfg, _ in rep.seeds:
            for arm in arms:
                if arm == "general" and rep.index:
                    continue
                tested = dict(done[f"{arm}{rep.suffix}-seed-{seed_cfg.finetune.seed}"])
                model = tested.pop("model")  # model_record names it `path`
                drawn = {} if arm == "general" else {"pretrain_seed": rep.cfg.pretrain.seed}
                runs.append({**tested, "seed": seed_cfg.finetune.seed, **drawn, **model_record(model)})
    pretrained = {arm: model_record(path) for arm, path in plan.pretrained.items()}
    drawn = {arm: [model_record(rep.plan.pretrained[arm]) for rep in reps] for arm in plan.pretrained}
    stages, uses = shared_stages(cfg, reps)
    record = {"version": RECORD_VERSION, "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "description": cfg.description, "model": cfg.model, "task": dataclasses.asdict(cfg.task),
              "corpus": cfg.domain.corpus, "arms": arms, "seeds": [c.finetune.seed for c in seeds],
              "pretrain_seeds": [rep.cfg.pretrain.seed for rep in reps],
              "labels": task.labels, "test_examples": task.test.height, "runs": runs,
              "stages": stages, "uses": uses,
              "pretrain": pretrained, "pretrain_draws": drawn, "mechanism": mechanism_record(done, reps, arms)}
    fs.write_bytes(fs.join(out, "config.yaml"), cfg.to_yaml().encode())
    return write_report(out, record)


def main(argv: list[str] | None = None) -> int:
    return entry_point("experiment", experiment, argv)


if __name__ == "__main__":
    sys.exit(main())
