"""`taskpt run` end to end on a tiny model and tiny data, then again from the store."""
import dataclasses
import json
import pathlib
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import yaml

from engine.contract import PREMASKED, open_dataset, read_manifest
from engine.contract.tokenizer import tokenizer_identity
from engine.tagger import mask_budget, select_masks
from engine.text import tokenizer_inputs
from jobs.config import load_config
from jobs.plan import make_plan
from jobs.run import main as run_main

POSITIVE = "great good wonderful brilliant fun charming masterpiece best love moving".split()
NEGATIVE = "bad terrible awful boring dull mess worst hate slow".split()
FILLER = "the movie film story plot acting script was is a and you me what".split()


def sentence(rng, positive):
    words = list(rng.choice(FILLER, 4)) + list(rng.choice(POSITIVE if positive else NEGATIVE, 2))
    rng.shuffle(words)
    return " ".join(words) + "."


def labeled(path, n, seed):
    rng = np.random.default_rng(seed)
    rows = [{"text": sentence(rng, i % 2 == 0) + " " + sentence(rng, i % 2 == 0), "label": "pos" if i % 2 == 0 else "neg"}
            for i in range(n)]
    pl.DataFrame(rows).write_csv(path, separator="\t")
    return str(path)


def read_all(dataset_dir):
    return pl.from_arrow(pa.concat_tables(open_dataset(dataset_dir, PREMASKED).iter_batches(batch_format="pyarrow")))


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("project")
    rng = np.random.default_rng(5)
    corpus = pl.DataFrame({"statement": [sentence(rng, i % 2 == 0) for i in range(60)],
                           "reply": [sentence(rng, i % 3 == 0) + " " + sentence(rng, True) for i in range(60)]})
    corpus.write_csv(root / "corpus.csv")
    train = {"epochs": 1, "batch_size": 8, "lr": 2.0e-3, "log_every": 5}
    config = {
        "model": tiny_bert, "store": str(root / "store"),
        "task": {"train": labeled(root / "train.tsv", 48, 1), "dev": labeled(root / "dev.tsv", 16, 2),
                 "test": labeled(root / "test.tsv", 16, 3)},
        "domain": {"corpus": str(root / "corpus.csv"), "text_column": ["statement", "reply"]},
        # Two trainings at a time (each on half a CPU): pretraining arms and fine-tunes overlap.
        "compute": {"max_batch_tokens": 512, "concurrent_stages": 2},
        "finetune": {**train, "epochs": 2, "max_seq": 32},
        "score": {"delta": 0.05},
        "tagger": {**train, "class_weights": [1.0, 20.0], "val_fraction": 0.25, "max_seq": 32},
        "tag": {"max_seq": 32},
        "pretrain": {**train, "max_seq": 64, "holdout": 0.2, "arms": ["selective", "random"]},
    }
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return root, str(path)


@pytest.mark.slow
def test_run_writes_every_stage_and_a_second_run_reuses_them(local_ray, tiny_project, capsys):
    root, config = tiny_project
    assert run_main([config]) == 0
    first = capsys.readouterr().out
    plan = make_plan(load_config(config))

    importance = read_manifest(plan.importance)
    assert importance.kind == "importance" and importance.rows >= 48  # two sentences per example
    selective = read_manifest(plan.premasked)
    assert selective.rows >= 120 and selective.model == plan.tagger
    # Both record the tokenizer of their ids: the general model's, whose files the trained models carry.
    assert importance.tokenizer == selective.tokenizer == tokenizer_identity(load_config(config).model)
    rows, random_rows = read_all(plan.premasked), read_all(plan.random_masks)
    joined = rows.join(random_rows, on=["doc_id", "sentence_index"], suffix="_random")
    assert joined.height == rows.height
    assert (joined["mask_positions"].list.len() == joined["mask_positions_random"].list.len()).all()
    assert rows["mask_positions"].list.len().sum() > 0

    results = json.loads(pathlib.Path(plan.results, "results.json").read_text())
    assert [a["arm"] for a in results["arms"]] == ["general", "selective", "random"]
    assert all(0.0 <= a["test_accuracy"] <= 1.0 for a in results["arms"]) and results["test_examples"] == 16
    for path in [plan.general_finetuned, plan.tagger, *plan.pretrained.values(), *plan.finetuned.values()]:
        assert pathlib.Path(path, "model.json").exists() and pathlib.Path(path, "config.yaml").exists()
        # Its tokenizer files are the tiny BERT's, whose tokenizer.json workers read as it stands.
        assert json.loads(pathlib.Path(path, "model.json").read_text())["tokenizer"] == {
            "inputs": tokenizer_inputs(path), "as_file": True}
    assert "general" in first and "test_accuracy" in first
    # The summary says where the time went, stage by stage.
    took = first.split("[taskpt run] done in ")[1].split(")")[0]
    assert [part.split()[0] for part in took.split("(")[1].split(", ")] == [
        "finetune", "score", "train-tagger", "tag", "pretrain", "evaluate"]

    assert run_main([config]) == 0
    second = capsys.readouterr().out
    # finetune, score, train-tagger, tag (tagger and random masks), pretrain (two arms), evaluate
    assert second.count("cache hit") == 1 + 1 + 1 + 2 + 2 + 1
    assert "test_accuracy" in second

    # Another mask budget is derived from the stored scores: the tagger is not run again.
    from jobs.tag import main as tag_main

    assert tag_main([config, "tag.mask_ratio=0.3"]) == 0
    third = capsys.readouterr().out
    assert "cache hit (no tagger loaded)" in third and "tagging" not in third.replace("no tagger loaded", "")
    wider = make_plan(load_config(config, ["tag.mask_ratio=0.3"]))
    assert wider.tagged == plan.tagged and wider.premasked != plan.premasked
    derived = read_all(wider.premasked)
    assert derived["mask_positions"].list.len().sum() >= rows["mask_positions"].list.len().sum()
    for scores, masks in zip(derived["scores"].to_list(), derived["mask_positions"].to_list()):
        assert masks == select_masks(np.array(scores, np.float32), 0.3).tolist()


@pytest.mark.slow
def test_the_content_arms_masks_are_derived_from_the_stored_scores_never_on_stop_words_or_punctuation(
        local_ray, tiny_project, capsys):
    """After the run above: no tagger is loaded; same budget, same candidates order as `selective`."""
    from engine.stopwords import StopWords
    from engine.token_forms import TokenForms
    from jobs.tag import main as tag_main

    _, config = tiny_project
    args = [config, "pretrain.arms=[selective_content]"]
    assert tag_main(args) == 0
    said = capsys.readouterr().out
    assert "cache hit (no tagger loaded)" in said and "the tagger's masks at budget 0.15 among content tokens" in said
    plan = make_plan(load_config(config, args[1:]))
    rows, content = read_all(plan.premasked), read_all(plan.premasked_content)
    assert read_manifest(plan.premasked_content).params["candidates"] == "content"
    words = StopWords(TokenForms.for_model(plan.tagger))
    joined = rows.join(content, on=["doc_id", "sentence_index"], suffix="_content")
    assert joined.height == rows.height
    left_out = 0
    for ids, scores, masks in zip(joined["input_ids"].to_list(), joined["scores"].to_list(),
                                  joined["mask_positions_content"].to_list()):
        ids = np.array(ids)
        excluded = words.at(ids, np.array([0, len(ids)])) | words.punctuation[ids]
        assert not excluded[masks].any() and len(masks) <= mask_budget(len(ids), 0.15)
        allowed = np.where(excluded, -np.inf, np.array(scores, np.float32))
        assert masks == select_masks(allowed, 0.15).tolist()
        left_out += int(excluded[select_masks(np.array(scores, np.float32), 0.15)].sum())
    assert left_out > 0  # the published rule did choose some of them here


@pytest.mark.slow
def test_pretraining_refuses_a_dataset_of_another_tokenizer_before_any_work(local_ray, tiny_project, tiny_roberta,
                                                                            capsys):
    """After the run above: the tagged dataset's manifest made to record RoBERTa's tokenizer,
    DAPT (which trains on it) stops with one line naming both, and writes nothing."""
    import jobs.pretrain

    _, config = tiny_project
    args = [config, "pretrain.arms=[dapt]", "pretrain.lr=0.001"]  # a DAPT model not in the store
    plan = make_plan(load_config(config, args[1:]))
    manifest = pathlib.Path(plan.tagged, "manifest.json")
    original = manifest.read_text()
    manifest.write_text(json.dumps({**json.loads(original), "tokenizer": tokenizer_identity(tiny_roberta)}))
    try:
        assert jobs.pretrain.main(args) == 2
    finally:
        manifest.write_text(original)
    [line] = capsys.readouterr().err.strip().splitlines()
    assert plan.tagged in line and "RobertaTokenizer" in line and "BertTokenizer" in line
    assert not pathlib.Path(plan.pretrained["dapt"]).exists()


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["roberta", "xlm-roberta", "distilbert", "electra", "deberta-v2", "modernbert"])
def test_run_completes_every_stage_on_another_family_with_its_own_tokens(local_ray, tiny_project, family_models,
                                                                         model_type, tmp_path, capsys):
    """RoBERTa: a byte-level BPE tokenizer (`Ġ`), <s> </s> <pad> <mask>, positions after the pad
    id, on the engine's own forward; XLM-R the same with a Unigram tokenizer (`▁`). DistilBERT
    and ELECTRA (WordPiece), DeBERTa-v3 (Unigram, relative attention), ModernBERT (byte-level
    BPE with [CLS]/[SEP]) on transformers' forward in the actors, each with its own masked-LM
    head module. None has a masked-LM head in its checkpoint: every stage runs, ~60 s each."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    model = family_models[model_type][0]
    _, bert_config = tiny_project
    raw = yaml.safe_load(pathlib.Path(bert_config).read_text())
    raw.update(model=model, store=str(tmp_path / "store"))
    raw["pretrain"]["arms"] = ["selective"]
    raw["finetune"]["epochs"] = 1
    config = tmp_path / f"{model_type}.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert run_main([str(config)]) == 0
    said = capsys.readouterr().out
    plan = make_plan(load_config(str(config)))
    assert f"selective: {model} has no masked-LM head: it starts fresh, its decoder tied to the input " \
           "embeddings" in said
    engine_forward = model_type in ("roberta", "xlm-roberta")
    assert (f"on the engine's own {model_type} forward" if engine_forward
            else f"on transformers' {model_type} forward (padded passes)") in said  # scoring and tagging say so

    rows = read_all(plan.premasked)
    specials = set(AutoTokenizer.from_pretrained(model).all_special_ids)
    assert rows["mask_positions"].list.len().sum() > 0
    for ids, scores, masks in zip(rows["input_ids"].to_list(), rows["scores"].to_list(),
                                  rows["mask_positions"].to_list()):
        assert not specials & set(ids)  # the rows hold the sentence's tokens; specials come with training
        assert masks == select_masks(np.array(scores, np.float32), 0.15).tolist()
        assert len(masks) <= mask_budget(len(ids), 0.15)
    pretrained = AutoModelForMaskedLM.from_pretrained(plan.pretrained["selective"])
    assert pretrained.config.model_type == model_type
    results = json.loads(pathlib.Path(plan.results, "results.json").read_text())
    assert [a["arm"] for a in results["arms"]] == ["general", "selective"]


@pytest.mark.slow
def test_dapt_tapt_trains_the_dapt_model_first_then_tapt_from_it_and_pays_for_both(local_ray, tiny_project, monkeypatch, capsys):
    """After the run above, on its datasets; Ray Train is replaced by a recorder that writes a
    committed copy of the start model (a real masked-LM fit is what tests/trainer covers, and two
    more here would cost the suite ~50 s)."""
    import shutil

    import jobs.pretrain
    from engine.contract.store import commit_model, read_model_info
    from jobs.experiment import for_experiment, model_record, replicates, shared_stages
    from jobs.report import compute

    fits = []

    def recording_fit(objective, params, model_path, train, dev, out_dir, name, config_yaml, info, share, rows):
        fits.append({"start": model_path, "name": name, "masking": objective.masking, "rows": rows, **info})
        shutil.copytree(model_path, out_dir, dirs_exist_ok=True)
        commit_model(out_dir, {**info, "compute": {"seconds": 10.0 * len(fits), "device": "CPU"}})
        return {"dev_mlm_loss": 1.0}

    monkeypatch.setattr(jobs.pretrain, "fit", recording_fit)
    _, config = tiny_project
    args = [config, "pretrain.arms=[dapt_tapt]"]
    assert jobs.pretrain.main(args) == 0
    plan = make_plan(load_config(config, args[1:]))
    assert [(f["arm"], f["start"], f["data"], f["masking"]) for f in fits] == [
        ("dapt", load_config(config).model, plan.tagged, "dynamic"),
        ("dapt_tapt", plan.pretrained["dapt"], plan.importance, "dynamic")]
    assert all(f["rows"] > 0 for f in fits)
    assert f"dapt_tapt: masked-LM from {plan.pretrained['dapt']}" in capsys.readouterr().out
    assert jobs.pretrain.main(args) == 0 and len(fits) == 2  # both in the store now
    assert capsys.readouterr().out.count("cache hit") == 2

    # The experiment's compute table charges DAPT+TAPT for the DAPT pretraining it starts from.
    cfg = for_experiment(load_config(config, ["experiment.arms=[general, dapt_tapt]"]))
    stages, uses = shared_stages(cfg, replicates(dataclasses.replace(
        cfg, experiment=dataclasses.replace(cfg.experiment, pretrain_seeds=1))))
    assert stages["pretrain-dapt"]["path"] == plan.pretrained["dapt"] and stages["pretrain-dapt"]["seconds"] == 10.0
    assert "random-masks" not in stages and "selective-masks" not in stages  # no arm of these reads them
    [row] = compute({"arms": ["dapt_tapt"], "stages": stages, "uses": {"dapt_tapt": uses["dapt_tapt"]},
                     "pretrain": {"dapt_tapt": model_record(plan.pretrained["dapt_tapt"])}, "runs": []})
    assert row["shared_seconds"] == pytest.approx(10.0 + sum(
        stages[s]["seconds"] for s in ("finetune-scorer", "score", "train-tagger", "tag")))
    assert row["pretrain_seconds"] == 20.0 == read_model_info(plan.pretrained["dapt_tapt"])["compute"]["seconds"]


@pytest.mark.slow
def test_experiment_reports_every_arm_over_seeds_and_report_rebuilds_it_from_the_store(local_ray, tiny_project, capsys):
    """After the run above, only what the experiment adds is trained: each arm pretrained again
    with the second pretraining seed (its own random masks), and fine-tuned (two arms, one
    fine-tuning seed, to keep the suite short; the general and tapt arms take the same path)."""
    from jobs.experiment import main as experiment_main
    from jobs.report import main as report_main
    from jobs.report import paired

    _, config = tiny_project
    arms = ["random", "selective"]
    args = [config, "experiment.seeds=1", "experiment.pretrain_seeds=2", f"experiment.arms=[{', '.join(arms)}]"]
    assert experiment_main(args) == 0
    printed = capsys.readouterr().out
    run = pathlib.Path(printed.split("[taskpt report] wrote ")[1].split(" in ")[1].strip())
    record = json.loads((run / "experiment.json").read_text())
    numbers = json.loads((run / "report.json").read_text())
    assert record["arms"] == arms and record["seeds"] == [42] and record["pretrain_seeds"] == [42, 43]
    assert "2 pretraining seed(s) (42, 43) x 1 fine-tuning seed(s) (42); 2 step(s) at once" in printed
    assert sorted((r["arm"], r["pretrain_seed"], r["seed"]) for r in record["runs"]) == sorted(
        (a, p, 42) for a in arms for p in (42, 43))
    assert "[taskpt tag] wrote the random baseline" in printed  # the second draw's random masks
    draws = record["pretrain_draws"]["random"]
    assert len(draws) == 2 and draws[0]["path"] != draws[1]["path"]
    # The table is drawn from the record: means and sample std over all runs.
    for row in numbers["summary"]:
        values = [r["test_accuracy"] for r in record["runs"] if r["arm"] == row["arm"]]
        assert row["test_accuracy_mean"] == pytest.approx(np.mean(values))
        assert row["test_accuracy_std"] == pytest.approx(np.std(values, ddof=1))
        assert f"| {row['arm']} | {row['test_accuracy_mean']:.4f} ± {row['test_accuracy_std']:.4f} |" in printed
    [first] = numbers["comparisons"]
    assert (first["a"], first["b"]) == ("selective", "random")
    assert first == paired(record, "selective", "random")
    assert first["test_accuracy"]["method"] == "two levels, t over pretraining seeds"
    low, high = first["test_accuracy"]["ci95"]
    assert low <= first["test_accuracy"]["mean_difference"] <= high
    # Compute: both arms pay for the scorer, scoring, the tagger and tagging, as recorded by them.
    compute = {r["arm"]: r for r in numbers["compute"]}
    stages = record["stages"]
    assert compute["selective"]["shared_seconds"] == pytest.approx(sum(
        stages[s]["seconds"] for s in ("finetune-scorer", "score", "train-tagger", "tag", "selective-masks")))
    assert stages["finetune-scorer"]["seconds"] > 0 and stages["tag"]["seconds"] > 0
    # Random pays for both draws' random masks (each drawn with its own seed).
    assert record["uses"]["random"][-2:] == ["random-masks", "random-masks@p1"]
    assert stages["random-masks"]["path"] != stages["random-masks@p1"]["path"]
    assert compute["random"]["shared_seconds"] == pytest.approx(sum(stages[s]["seconds"] for s in record["uses"]["random"]))
    assert compute["random"]["pretrain_steps"] == compute["selective"]["pretrain_steps"]  # equal budgets
    assert all(r["finetune_seconds"] > 0 and r["devices"] == ["CPU"] for r in numbers["compute"])
    assert all(record["pretrain"][a]["curve"] for a in arms)
    # The mechanism check: both pretrained arms on the same held-out sentences and masks.
    mechanism = record["mechanism"]
    assert sorted(mechanism) == ["random", "selective"] and numbers["mechanism"] == mechanism
    assert mechanism["random"]["sentences"] == mechanism["selective"]["sentences"] > 0
    assert mechanism["random"]["important_predicted"] == mechanism["selective"]["important_predicted"] > 0
    assert all(0.0 <= m[f"{kind}_accuracy"] <= 1.0 for m in mechanism.values() for kind in ("important", "other"))
    assert f"| selective | {mechanism['selective']['important_accuracy']:.4f} (" in printed
    assert "On the tagger's tokens selective - random = " in printed
    for name in ("accuracy.png", "curves.png"):
        png = (run / name).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    # The report again from the store alone: same numbers, nothing trained.
    (run / "report.md").unlink()
    assert report_main([str(run)]) == 0
    again = capsys.readouterr().out
    assert json.loads((run / "report.json").read_text()) == numbers and (run / "report.md").exists()
    assert "fine-tun" not in again.replace("fine-tuning", "")
    assert experiment_main(args) == 0
    assert "cache hit" in capsys.readouterr().out


@pytest.mark.slow
def test_bad_labels_in_dev_stop_the_run_before_any_work(local_ray, tiny_project, tmp_path, capsys):
    root, config = tiny_project
    (tmp_path / "dev.tsv").write_text("text\tlabel\ngood fun.\tpos\nbad.\tneutral\n")
    store = tmp_path / "store"
    code = run_main([config, f"task.dev={tmp_path / 'dev.tsv'}", f"store={store}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "dev.tsv: row 2: label 'neutral' is not in the label set ['neg', 'pos']" in err
    assert not store.exists() or not any(store.rglob("*"))


def test_a_bad_config_key_fails_fast_with_exit_code_2_from_the_command_line(tiny_project):
    _, config = tiny_project
    done = subprocess.run([sys.executable, "-m", "jobs.score", config, "score.dleta=0.1"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "config key 'score.dleta' is not known" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_corpus_column_typo_stops_the_run_before_the_first_stage(local_ray, tiny_project, tmp_path, capsys):
    _, config = tiny_project
    store = tmp_path / "store"
    assert run_main([config, "domain.text_column=[statement, replies]", f"store={store}"]) == 2
    assert "corpus.csv: no column 'replies'" in capsys.readouterr().err
    assert not store.exists() or not any(store.rglob("*"))


# configs/movies-gpu.yaml's keys that say how big the run is (data, model, steps, seeds, lengths,
# concurrency): the tiny run below changes these and nothing else.
SIZE_KEYS = {"model", "store", "task.train", "task.dev", "task.test", "domain.corpus", "pretrain.head_warmup.corpus",
             "finetune.epochs", "finetune.batch_size", "finetune.lr", "finetune.log_every", "finetune.max_seq",
             "tagger.epochs", "tagger.batch_size", "tagger.lr", "tagger.log_every", "tagger.max_seq",
             "tagger.val_fraction", "tag.max_seq", "score.delta", "compute.max_batch_tokens",
             "compute.concurrent_stages", "pretrain.epochs", "pretrain.batch_size", "pretrain.lr",
             "pretrain.log_every", "pretrain.max_seq", "pretrain.holdout", "pretrain.head_warmup.steps",
             "pretrain.head_warmup.batch_size", "pretrain.head_warmup.max_seq", "pretrain.head_warmup.lr",
             "experiment.seeds", "experiment.pretrain_seeds"}


@pytest.mark.slow
def test_the_gpu_experiment_config_runs_every_arm_end_to_end_at_tiny_size(local_ray, tmp_path, tiny_bert, capsys):
    """configs/movies-gpu.yaml as it is (arms general, tapt, random, selective, selective_content;
    the head warm-up), with tiny data, a tiny model, few steps and one seed at each level (the
    experiment test above draws two at each)."""
    from jobs.experiment import main as experiment_main

    rng = np.random.default_rng(11)
    pl.DataFrame({"text": [" ".join(sentence(rng, i % 2 == 0) for _ in range(4)) for i in range(30)]}).write_csv(
        tmp_path / "reviews.csv")
    (tmp_path / "wikitext.txt").write_text("\n".join(
        " ".join(sentence(rng, i % 2 == 0) for _ in range(3)) for i in range(80)) + "\n")
    train = {"epochs": 1, "batch_size": 8, "lr": 2.0e-3, "log_every": 5, "max_seq": 32}
    tiny = {"model": tiny_bert, "store": str(tmp_path / "store"),
            "task.train": labeled(tmp_path / "train.tsv", 32, 1), "task.dev": labeled(tmp_path / "dev.tsv", 12, 2),
            "task.test": labeled(tmp_path / "test.tsv", 12, 3), "domain.corpus": str(tmp_path / "reviews.csv"),
            "pretrain.head_warmup.corpus": str(tmp_path / "wikitext.txt"),
            **{f"finetune.{k}": v for k, v in train.items()}, **{f"tagger.{k}": v for k, v in train.items()},
            "tagger.val_fraction": 0.25, "tag.max_seq": 32, "score.delta": 0.05, "compute.max_batch_tokens": 512,
            "compute.concurrent_stages": 2, **{f"pretrain.{k}": v for k, v in train.items()},
            "pretrain.max_seq": 64, "pretrain.holdout": 0.2, "pretrain.head_warmup.steps": 10,
            "pretrain.head_warmup.batch_size": 8, "pretrain.head_warmup.max_seq": 32, "pretrain.head_warmup.lr": 0.01,
            "experiment.seeds": 1, "experiment.pretrain_seeds": 1}
    assert set(tiny) <= SIZE_KEYS
    gpu = load_config("configs/movies-gpu.yaml")
    assert experiment_main(["configs/movies-gpu.yaml", *(f"{k}={v}" for k, v in tiny.items())]) == 0
    printed = capsys.readouterr().out
    run = pathlib.Path(printed.split("[taskpt report] wrote ")[1].split(" in ")[1].strip())
    record = json.loads((run / "experiment.json").read_text())
    numbers = json.loads((run / "report.json").read_text())

    arms = gpu.experiment.arms
    assert record["arms"] == arms and gpu.experiment.pretrain_seeds == 2
    assert sorted(r["arm"] for r in record["runs"]) == sorted(arms)
    assert sorted(record["pretrain"]) == sorted(a for a in arms if a != "general")
    assert [row["arm"] for row in numbers["summary"]] == arms
    # Every pretrained arm started from the warmed-up head, whose held-out loss is reported.
    assert record["stages"]["warm-head"]["before"] and "Head warm-up (10 steps" in printed
    assert all("warm-head" in record["uses"][a] for a in arms if a != "general")
    assert "warm-head" not in record["uses"]["general"]
    assert sorted(record["mechanism"]) == sorted(arms)  # general: the encoder every arm starts from
    assert {(c["a"], c["b"]) for c in numbers["comparisons"]} >= {("selective", "random"),
                                                                  ("selective_content", "random")}


@pytest.mark.slow
def test_a_training_stage_shows_step_lines_with_throughput_and_time_left_and_writes_tensorboard_events(
        tiny_project, tmp_path):
    """As a user runs it (its own local Ray, workers' output sent to the terminal)."""
    _, config = tiny_project
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, "-m", "jobs.finetune", config, f"store={store}", "finetune.log_every=2"],
                          capture_output=True, text=True, timeout=300, cwd=pathlib.Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout + done.stderr
    steps = [line for line in said.splitlines() if "[finetune-general] epoch " in line and " step " in line]
    assert len(steps) >= 3, said[-3000:]
    assert all(" tokens/s (" in line and "s left)" in line for line in steps), steps
    [model] = (store / "models" / "finetuned").iterdir()
    assert any((model / "tensorboard").iterdir())
