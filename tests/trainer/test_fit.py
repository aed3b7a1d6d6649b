"""The shared training loop on Ray Train: it learns, it picks epochs on dev data, and what it
saves is what it evaluated."""
import json
import pathlib
import shutil

import numpy as np
import pytest
import ray.data
from transformers import AutoTokenizer

from engine.contract.store import TOKENIZER_FILES
from trainer.evaluate import evaluate_classifier
from trainer.objectives import SequenceClassification
from trainer.params import TrainParams
from trainer.run import copy_tokenizer_files, fit

POSITIVE = "great good wonderful brilliant fun charming masterpiece best love moving".split()
NEGATIVE = "bad terrible awful boring dull mess worst hate slow".split()
FILLER = "the movie film story plot acting script was is a and".split()


def synthetic_rows(tokenizer, n, seed, flip=False):
    """Sentences whose label is whether their sentiment words are positive."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILLER, 4)) + list(rng.choice(POSITIVE if label else NEGATIVE, 2))
        rng.shuffle(words)
        ids = np.array(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"], dtype=np.int32)
        rows.append({"input_ids": ids, "label": 1 - label if flip else label})
    return rows


@pytest.fixture(scope="module")
def classify(tiny_bert):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    return tok, SequenceClassification(num_labels=2, max_seq=32, cls_id=tok.cls_token_id, sep_id=tok.sep_token_id,
                                       pad_id=tok.pad_token_id)


PARAMS = TrainParams(epochs=2, batch_size=16, lr=5e-3, warmup_ratio=0.0, log_every=100, seed=0)


def test_loss_goes_down_dev_metrics_come_from_dev_data_and_the_saved_model_scores_what_the_loop_reported(
        local_ray, tiny_bert, classify, tmp_path):
    """One run (each costs Ray Train's start): the dev labels are the task's labels flipped, so
    a model that learned the task scores near 0 on them, and it is that number the loop reports
    for the epoch it kept, not one from training batches."""
    tok, objective = classify
    train, flipped_dev = synthetic_rows(tok, 384, 0), synthetic_rows(tok, 32, 1, flip=True)
    metrics = fit(objective, PARAMS, tiny_bert, ray.data.from_items(train), ray.data.from_items(flipped_dev),
                  str(tmp_path / "model"), "test-fit", "", {"test": True})
    losses = [epoch["train_loss"] for epoch in metrics["history"]]
    assert len(losses) == PARAMS.epochs
    assert losses[-1] < 0.5 * losses[0] and losses[-1] < 0.5 * metrics["first_step_loss"]

    model = str(tmp_path / "model")
    on_train = evaluate_classifier(model, [r["input_ids"] for r in train], np.array([r["label"] for r in train]), 32)
    assert on_train["accuracy"] > 0.8  # it learned the task...
    assert metrics["dev_accuracy"] < 0.2  # ...and the reported dev number is on the flipped dev labels
    again = evaluate_classifier(model, [r["input_ids"] for r in flipped_dev],
                                np.array([r["label"] for r in flipped_dev]), 32)
    assert again["accuracy"] == pytest.approx(metrics["dev_accuracy"])
    assert metrics["dev_accuracy"] == max(h["dev_accuracy"] for h in metrics["history"])  # the kept epoch
    assert (tmp_path / "model" / "model.json").exists() and (tmp_path / "model" / "tokenizer.json").exists()
    assert not (tmp_path / "model" / "_ray_train").exists()
    # TensorBoard events in the model's folder: the logged losses and every epoch's dev metrics.
    events = scalars(tmp_path / "model" / "tensorboard")
    assert [v for _, v in events["train/loss"]] == pytest.approx([c["train_loss"] for c in metrics["curve"]])
    assert [s for s, _ in events["dev/accuracy"]] == [h["step"] for h in metrics["history"]]
    assert all(v > 0 for _, v in events["train/tokens_per_second"]) and "train/lr" in events


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files in `folder`: tag -> [(step, value)], read as
    TFRecords (length, its CRC, the Event proto, its CRC) with tensorboardX's own proto."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    out = {}
    for path in sorted(pathlib.Path(folder).iterdir()):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_a_trained_model_tokenizes_as_its_source_did_added_tokens_included(tiny_bert, tmp_path):
    """`fit` copies the source's tokenizer files into the model it writes; added_tokens.json
    among them: without it "[ENT]" would come back as [UNK] and three letters."""
    source = tmp_path / "source"
    shutil.copytree(tiny_bert, source)
    (source / "added_tokens.json").write_text(json.dumps({"[ENT]": len(AutoTokenizer.from_pretrained(tiny_bert))}))
    trained = tmp_path / "trained"
    trained.mkdir()
    copy_tokenizer_files(str(source), str(trained))
    text = "the [ENT] movie was great"
    want = AutoTokenizer.from_pretrained(source)(text)["input_ids"]
    assert AutoTokenizer.from_pretrained(trained)(text)["input_ids"] == want
    assert want != AutoTokenizer.from_pretrained(tiny_bert)(text)["input_ids"]  # the added token counts


def test_the_trainer_copies_every_tokenizer_file_the_model_format_names(tiny_bert, tmp_path):
    """engine.contract.store.TOKENIZER_FILES: what model.json's tokenizer record hashes, and so
    what a trained model must carry of its source's."""
    source = shutil.copytree(tiny_bert, tmp_path / "source")
    for name in TOKENIZER_FILES:
        if not (source / name).exists():
            (source / name).write_text("{}")
    trained = tmp_path / "trained"
    trained.mkdir()
    copy_tokenizer_files(str(source), str(trained))
    assert [name for name in TOKENIZER_FILES if (trained / name).read_bytes() != (source / name).read_bytes()] == []
