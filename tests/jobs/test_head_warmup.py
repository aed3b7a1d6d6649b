"""pretrain.head_warmup: a checkpoint without a masked-LM head has one trained alone, on general
text, once; every pretrained arm starts from it, the general arm does not."""
import pathlib

import pytest
from safetensors.torch import load_file

from engine.contract.store import read_model_info
from jobs.config import ConfigError, load_config
from jobs.plan import make_plan

WARMUP = ["pretrain.head_warmup.steps=40", "pretrain.head_warmup.lr=0.01", "pretrain.head_warmup.batch_size=16",
          "pretrain.head_warmup.max_seq=32", "pretrain.head_warmup.holdout=0.2"]


@pytest.fixture
def project(tmp_path, tagging_project_maker):
    config = tagging_project_maker(tmp_path, documents=200, shard_documents=200)
    return config, [f"pretrain.head_warmup.corpus={tmp_path / 'corpus.txt'}", *WARMUP]


def test_every_pretrained_arm_starts_from_the_warmed_head_and_nothing_else_moves(project, tmp_path, tiny_bert):
    config, warmup = project
    arms = "pretrain.arms=[selective, random, dapt_tapt]"
    plain, warm = make_plan(load_config(config, [arms])), make_plan(load_config(config, [arms, *warmup]))
    assert plain.warm_head is None and warm.warm_head
    assert warm.pretrain_start == {"selective": warm.warm_head, "random": warm.warm_head, "dapt": warm.warm_head,
                                   "dapt_tapt": warm.pretrained["dapt"]}
    assert warm.finetuned["general"] == plain.finetuned["general"] and warm.tagged == plain.tagged
    assert warm.pretrained["selective"] != plain.pretrained["selective"]
    # Off by default: the fingerprints are those of a config without the key.
    assert make_plan(load_config(config, [arms, "pretrain.head_warmup.steps=0"])) == plain
    # A checkpoint with a trained head has nothing to warm up.
    from transformers import BertForMaskedLM

    with_head = tmp_path / "with-head"
    BertForMaskedLM.from_pretrained(tiny_bert).save_pretrained(with_head)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (with_head / name).write_bytes((pathlib.Path(tiny_bert) / name).read_bytes())
    assert make_plan(load_config(config, [arms, *warmup, f"model={with_head}"])).warm_head is None


def test_warming_up_without_a_corpus_is_refused_by_key(project):
    config, _ = project
    with pytest.raises(ConfigError, match="'pretrain.head_warmup.corpus': required when pretrain.head_warmup.steps > 0"):
        load_config(config, ["pretrain.head_warmup.steps=10"])


@pytest.mark.slow
def test_the_head_warmup_trains_the_head_alone_and_lowers_its_held_out_loss(local_ray, project, tiny_bert, capsys):
    from jobs.pretrain import warm_head

    config, warmup = project
    cfg = load_config(config, warmup)
    plan = make_plan(cfg)
    warm_head(cfg, plan)
    said = capsys.readouterr().out
    metrics = read_model_info(plan.warm_head)["metrics"]
    before, after = metrics["before"]["dev_mlm_loss"], metrics["dev_mlm_loss"]
    assert after < before and metrics["step"] == 40
    assert f"(held-out masked-LM loss {before:.4f} before, {after:.4f} after)" in said
    # The encoder's tensors are the general model's, byte for byte; the head is new.
    general = load_file(pathlib.Path(tiny_bert, "model.safetensors"))
    warmed = load_file(pathlib.Path(plan.warm_head, "model.safetensors"))
    encoder = [name for name in general if not name.startswith("pooler.")]  # a masked-LM model has no pooler
    assert encoder and all(general[n].numpy().tobytes() == warmed[f"bert.{n}"].numpy().tobytes() for n in encoder)
    assert "cls.predictions.transform.dense.weight" in warmed
    warm_head(cfg, plan)
    assert "head warm-up: cache hit" in capsys.readouterr().out
