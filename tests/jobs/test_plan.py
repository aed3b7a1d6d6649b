"""Where each stage's output lives: DAPT+TAPT continues from the DAPT model, through the store."""
import time

import pytest

from jobs.config import load_config
from jobs.plan import make_plan


@pytest.fixture
def project(tmp_path, tagging_project_maker):
    return tagging_project_maker(tmp_path, documents=6, shard_documents=3)


def test_dapt_tapt_pretrains_on_the_task_text_from_the_dapt_model_which_is_planned_even_when_not_an_arm(project):
    cfg = load_config(project, ["pretrain.arms=[dapt_tapt]"])
    plan = make_plan(cfg)
    assert list(plan.pretrained) == ["dapt", "dapt_tapt"]  # DAPT first: DAPT+TAPT starts from it
    assert plan.pretrain_start == {"dapt": cfg.model, "dapt_tapt": plan.pretrained["dapt"]}
    assert plan.sources("dapt_tapt") == plan.sources("tapt") and plan.sources("dapt_tapt")[0] == plan.importance
    assert set(plan.finetuned) == {"general", "dapt_tapt"}  # the DAPT model is not fine-tuned for its own sake


def test_dapt_tapt_shares_the_dapt_model_of_the_dapt_arm_whatever_the_order_of_arms(project):
    alone = make_plan(load_config(project, ["pretrain.arms=[dapt_tapt]"]))
    both = make_plan(load_config(project, ["pretrain.arms=[dapt_tapt, tapt, dapt]"]))
    assert both.pretrained["dapt"] == alone.pretrained["dapt"]
    assert both.pretrained["dapt_tapt"] == alone.pretrained["dapt_tapt"]
    assert both.pretrain_start["tapt"] == both.pretrain_start["dapt"]  # the general model
    assert len(set(both.pretrained.values())) == 3 and len(set(both.finetuned.values())) == 4


def test_a_change_only_dapt_sees_changes_dapt_tapt_and_not_tapt(project):
    arms = "pretrain.arms=[tapt, dapt_tapt]"
    plan = make_plan(load_config(project, [arms]))
    fewer_documents = make_plan(load_config(project, [arms, "domain.max_documents=3"]))
    assert fewer_documents.pretrained["tapt"] == plan.pretrained["tapt"]
    assert fewer_documents.pretrained["dapt"] != plan.pretrained["dapt"]
    assert fewer_documents.pretrained["dapt_tapt"] != plan.pretrained["dapt_tapt"]


def test_the_experiment_trains_dapt_before_dapt_tapt_and_charges_dapt_tapt_for_it(project):
    from jobs.experiment import SHARED_STAGES, for_experiment, replicates, steps

    cfg = for_experiment(load_config(project, ["experiment.arms=[general, dapt_tapt]", "experiment.seeds=2",
                                               "experiment.pretrain_seeds=1"]))
    reps = replicates(cfg)
    graph = steps(cfg, reps[0].plan, reps, test={})
    assert graph["pretrain-dapt"][0] == ["tag"]
    assert graph["pretrain-dapt_tapt"][0] == ["score", "pretrain-dapt"]
    assert graph["dapt_tapt-seed-43"][0] == ["pretrain-dapt_tapt"] and "dapt-seed-42" not in graph
    assert "pretrain-dapt" in SHARED_STAGES["dapt_tapt"]


def test_each_pretraining_draw_pretrains_every_arm_again_on_its_own_random_masks_and_shares_the_rest(project):
    from jobs.experiment import for_experiment, replicates, steps

    cfg = for_experiment(load_config(project, ["experiment.arms=[general, random, selective, dapt_tapt]",
                                               "experiment.seeds=2", "experiment.pretrain_seeds=2"]))
    first, second = reps = replicates(cfg)
    assert (first.cfg.pretrain.seed, second.cfg.pretrain.seed) == (cfg.pretrain.seed, cfg.pretrain.seed + 1)
    assert first.plan.tagged == second.plan.tagged and first.plan.premasked == second.plan.premasked
    assert first.plan.random_masks != second.plan.random_masks  # drawn again, with seed + 1
    assert first.plan.random_masks == make_plan(cfg).random_masks  # the first draw is the pipeline's own
    assert all(first.plan.pretrained[a] != second.plan.pretrained[a] for a in ("random", "selective", "dapt_tapt"))
    for rep in reps:  # every fine-tuning seed fine-tunes the draw's own pretrained models
        assert all((p.pretrained, p.tagged, p.general_finetuned) == (rep.plan.pretrained, rep.plan.tagged,
                                                                     first.plan.general_finetuned) for _, p in rep.seeds)
        assert len({p.finetuned["selective"] for _, p in rep.seeds}) == 2
    graph = steps(cfg, first.plan, reps, test={})
    assert graph["random-masks@p1"][0] == ["tag"] and graph["pretrain-random@p1"][0] == ["random-masks@p1"]
    assert graph["pretrain-random"][0] == ["tag"] and graph["pretrain-selective@p1"][0] == ["tag"]
    assert graph["pretrain-dapt_tapt@p1"][0] == ["score", "pretrain-dapt@p1"]
    assert graph["selective@p1-seed-43"][0] == ["pretrain-selective@p1"]
    assert "general-seed-42" in graph and "general@p1-seed-42" not in graph  # general does not pretrain
    assert graph["mechanism-selective@p1"][0] == ["tag", "pretrain-selective@p1"]


def test_taskpt_pretrain_starts_dapt_tapt_only_after_the_dapt_model_is_done(project, monkeypatch):
    import jobs.pretrain

    cfg = load_config(project, ["pretrain.arms=[dapt_tapt, selective]", "compute.concurrent_stages=3"])
    events = []

    def fake_pretrain_arm(cfg, plan, arm):
        events.append(f"{arm} start")
        time.sleep(0.3 if arm == "dapt" else 0.0)
        events.append(f"{arm} end")

    monkeypatch.setattr(jobs.pretrain, "pretrain_arm", fake_pretrain_arm)
    jobs.pretrain.pretrain(cfg, make_plan(cfg))
    assert sorted(events) == sorted(f"{a} {e}" for a in ("dapt", "dapt_tapt", "selective") for e in ("start", "end"))
    assert events.index("dapt end") < events.index("dapt_tapt start")
    assert events.index("selective start") < events.index("dapt end")  # the others need not wait


def test_an_unknown_arm_is_named_with_the_ones_there_are(project):
    from jobs.validate import ConfigError

    with pytest.raises(ConfigError, match=r"'experiment.arms': 'dapt\+tapt' is not one of .*'dapt_tapt'"):
        load_config(project, ["experiment.arms=[general, dapt+tapt]"])
    assert load_config(project, ["experiment.arms=[general, dapt_tapt]"]).experiment.arms == ["general", "dapt_tapt"]


def test_a_checkpoint_is_identified_by_its_files_sharded_weights_and_bpe_vocabulary_included(tmp_path, tiny_bert):
    import json
    import shutil

    from jobs.plan import model_identity

    # BERT's files as always: a store written before keeps its fingerprints.
    assert sorted(model_identity(tiny_bert)) == ["config.json", "model.safetensors", "tokenizer.json",
                                                 "tokenizer_config.json", "vocab.txt"]
    sharded = shutil.copytree(tiny_bert, tmp_path / "sharded")
    for name in ("vocab.json", "merges.txt"):  # a byte-level BPE tokenizer's files, saved beside tokenizer.json
        (sharded / name).write_text("{}")
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00001.safetensors")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"bert.embeddings.word_embeddings.weight": "model-00001-of-00001.safetensors"}}))
    before = model_identity(str(sharded))
    assert {"model-00001-of-00001.safetensors", "vocab.json", "merges.txt"} <= set(before)
    with open(sharded / "model-00001-of-00001.safetensors", "ab") as f:
        f.write(b" ")
    assert model_identity(str(sharded)) != before


def test_content_candidates_are_derived_from_the_tagged_scores_and_never_change_tagging(project):
    cfg = load_config(project, ["pretrain.arms=[selective, selective_content]"])
    plan = make_plan(cfg)
    assert plan.sources("selective_content") == (plan.premasked_content, "premasked")
    assert plan.premasked == plan.tagged != plan.premasked_content  # the published rule at the tagging ratio
    content = make_plan(load_config(project, ["tag.candidates=content"]))
    assert content.tagged == plan.tagged and content.premasked == plan.premasked_content
    assert content.random_masks != plan.random_masks  # the random baseline follows the selective arm's counts
    with pytest.raises(Exception, match=r"config key 'tag.candidates': 'nouns' is not one of \('all', 'content'\)"):
        load_config(project, ["tag.candidates=nouns"])
