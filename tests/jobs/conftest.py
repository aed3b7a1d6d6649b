"""Fixtures for the job tests: a project whose stage 4 is ready to run."""
from __future__ import annotations

import pytest

# Words the tiny BERT's vocabulary has (tests/conftest.py builds it).
WORDS = ("the a movie film story plot acting great good bad terrible awful wonderful boring funny dull "
         "brilliant love hate best worst fun moving slow mess charming you me what i it was is and").split()


def make_tagging_project(root, tiny_bert: str, tiny_tagger: str, documents: int, shard_documents: int,
                         stores: tuple[str, ...] = ("store",), config_dir=None) -> str:
    """A config whose stage 4 tags `documents` documents in shards of `shard_documents`, with
    the tagger already committed in each of `stores` (directories under root); returns the
    config's path (written in `config_dir`, default root)."""
    import pathlib
    import shutil

    import numpy as np
    import yaml

    from engine.contract.store import commit_model
    from jobs.config import load_config
    from jobs.plan import make_plan

    root = pathlib.Path(root)
    rng = np.random.default_rng(3)
    docs = [" ".join(rng.choice(WORDS, 7)) + ". " + " ".join(rng.choice(WORDS, 5)) + "!" for _ in range(documents)]
    (root / "corpus.txt").write_text("\n".join(docs) + "\n")
    for split in ("train", "dev", "test"):
        (root / f"{split}.tsv").write_text("text\tlabel\ngood fun\tpos\nbad mess\tneg\n")
    config = {"model": tiny_bert, "store": str(root / stores[0]),
              "task": {s: str(root / f"{s}.tsv") for s in ("train", "dev", "test")},
              "domain": {"corpus": str(root / "corpus.txt")},
              "compute": {"max_batch_tokens": 256},
              "tag": {"max_seq": 32, "shard_documents": shard_documents}}
    path = pathlib.Path(config_dir or root) / "tag.yaml"
    path.write_text(yaml.safe_dump(config))
    for store in stores:
        plan = make_plan(load_config(str(path), [f"store={root / store}"]))
        shutil.copytree(tiny_tagger, plan.tagger)
        commit_model(plan.tagger, {"test": "tiny tagger"})
    return str(path)


@pytest.fixture(scope="session")
def tagging_project_maker(tiny_bert, tiny_tagger):
    """make_tagging_project with the session's tiny BERT and tagger."""
    def make(root, documents: int, shard_documents: int, stores=("store",), config_dir=None) -> str:
        return make_tagging_project(root, tiny_bert, tiny_tagger, documents, shard_documents, stores, config_dir)

    return make


# The fault tests' stage 4: this many shards of two documents each.
REFERENCE_SHARDS = 24


@pytest.fixture(scope="session")
def tagged_reference(tmp_path_factory, tagging_project_maker):
    """A stage 4 of REFERENCE_SHARDS shards run once without a fault (its model actor on two
    shards at once, the GPU default: each call's output depends on its own shard only), for the
    fault tests to compare with, file for file: (root, config, plan, shards). A fault test tags the
    same corpus into a store of its own: `tagging_project_maker(root, documents=2 * shards,
    shard_documents=2, stores=(NAME,), config_dir=DIR)` writes the same files again (the plan's
    fingerprints hash their contents, so the reference's stay valid; other arguments would not)."""
    from jobs.config import load_config
    from jobs.plan import make_plan
    from jobs.tag import main as tag_main

    root = tmp_path_factory.mktemp("tagging")
    config = tagging_project_maker(root, documents=2 * REFERENCE_SHARDS, shard_documents=2, stores=("reference",))
    assert tag_main([config, "compute.concurrent_shards=2"]) == 0
    return root, config, make_plan(load_config(config)), REFERENCE_SHARDS
