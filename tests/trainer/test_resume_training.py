"""A training worker lost mid-epoch with its node (a preempted spot node): Ray Train restarts it
from the latest checkpoint on a surviving node, the interrupted epoch is replayed in the same
order with the batches already trained on skipped, and the run ends as a run without the fault.
(A worker process killed alone takes the same path, a subset of this one.)"""
import dataclasses
import json
import pathlib

import pytest
import ray.data
from test_fit import synthetic_rows
from transformers import AutoTokenizer

from trainer.objectives import SequenceClassification
from trainer.params import TrainParams
from trainer.run import fit

PARAMS = TrainParams(epochs=2, batch_size=8, group_by_length=2, lr=5e-3, warmup_ratio=0.1, log_every=1000, seed=0,
                     checkpoint_every=4, max_failures=2)
STEPS = 2 * (96 // 8)


@pytest.fixture(scope="module")
def run_spec(tiny_bert) -> dict:
    """What every run here trains: the same model, data and parameters."""
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    rows = {name: [{"input_ids": r["input_ids"].tolist(), "label": int(r["label"])} for r in synthetic_rows(tok, n, seed)]
            for name, n, seed in (("train", 96, 0), ("dev", 32, 1))}
    objective = {"num_labels": 2, "max_seq": 32, "cls_id": tok.cls_token_id, "sep_id": tok.sep_token_id,
                 "pad_id": tok.pad_token_id}
    return {"model": tiny_bert, "objective": objective, "params": dataclasses.asdict(PARAMS), **rows}


@pytest.fixture(scope="module")
def reference(local_ray, run_spec, tmp_path_factory) -> dict:
    """The run without a fault."""
    return run(run_spec, tmp_path_factory.mktemp("reference") / "model")


def run(spec: dict, out: pathlib.Path) -> dict:
    return fit(SequenceClassification(**spec["objective"]), TrainParams(**spec["params"]), spec["model"],
               ray.data.from_items(spec["train"]), ray.data.from_items(spec["dev"]), str(out), "resume", "",
               {"test": True})


def assert_same_run(resumed: dict, reference: dict) -> None:
    """fit returns the best epoch's metrics with every epoch's history."""
    assert reference["resumed_from_step"] is None and 2 <= resumed["resumed_from_step"] < STEPS
    assert [h["step"] for h in resumed["history"]] == [h["step"] for h in reference["history"]] == [12, STEPS]
    # Same data order and state after the restart: the same losses and dev metrics.
    for mine, theirs in zip(resumed["history"], reference["history"]):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)
        assert mine["dev_accuracy"] == pytest.approx(theirs["dev_accuracy"])


@pytest.mark.slow
def test_training_survives_losing_its_worker_node_and_ends_as_an_uninterrupted_run(run_spec, reference, node_loss,
                                                                                  tmp_path):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(run_spec))
    result = node_loss("train", str(spec_file), str(tmp_path / "model"))
    assert "error" not in result and result["actors_on_removed_node"] == 1, result
    assert result["nodes_alive_after"] == 2, result  # the head and the surviving worker node
    assert_same_run(result["metrics"], reference)
    assert (tmp_path / "model" / "model.json").exists()


@pytest.mark.slow
@pytest.mark.autoscaler
def test_training_on_an_autoscaled_gpu_node_taken_back_resumes_on_a_new_one(run_spec, reference, autoscaling, tmp_path):
    """The worker asks for a GPU on a cluster with none: the autoscaler adds a node; that node is
    taken back after a checkpoint; another is added and the run ends as one without the fault."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({**run_spec, "params": {**run_spec["params"], "use_gpu": True}}))
    result = autoscaling("train", str(spec_file), str(tmp_path / "model"))
    assert "error" not in result and result["preempted_node_gone"], result
    assert result["actors_on_preempted_node"] >= 1 and result["launched"] >= 2, result
    assert_same_run(result["metrics"], reference)
    assert (tmp_path / "model" / "model.json").exists()
