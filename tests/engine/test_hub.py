"""A model named by its Hugging Face id is read from the Hugging Face cache, which these tests
lay out themselves (nothing is downloaded): offline, a missing model is one line."""
import pytest

from engine.errors import InputError
from engine.hub import hub_cache, hub_snapshot, is_model_id
from engine.models import check_checkpoint


def test_names_that_read_as_model_ids_and_names_that_read_as_paths():
    for model_id in ("roberta-base", "FacebookAI/roberta-base", "microsoft/deberta-v3-base@main", "org/m@v1.0"):
        assert is_model_id(model_id), model_id
    for path in ("./model", "/abs/model", "data/demo/model", "s3://bucket/model", "../model", "~/model", "org/"):
        assert not is_model_id(path), path


def test_the_cache_is_found_as_huggingface_hub_finds_it():
    assert hub_cache({"HF_HUB_CACHE": "/c/hub", "HF_HOME": "/h"}) == "/c/hub"
    assert hub_cache({"HF_HOME": "/h"}) == "/h/hub"
    assert hub_cache({"HOME": "/home/u"}) == "/home/u/.cache/huggingface/hub"
    assert hub_cache({"HOME": "/home/u", "XDG_CACHE_HOME": "/x"}) == "/x/huggingface/hub"


def test_a_cached_model_id_is_its_snapshot_directory_offline(hf_home):
    env = {"HF_HOME": str(hf_home.home), "HF_HUB_OFFLINE": "1"}
    assert hub_snapshot(hf_home.model_id, env) == hf_home.snapshot
    assert hub_snapshot(f"{hf_home.model_id}@v1", env) == hf_home.snapshot  # a tag the cache knows
    assert check_checkpoint(hub_snapshot(hf_home.model_id, env))["model_type"] == "bert"


def test_an_uncached_model_offline_is_one_line_naming_the_key_the_id_and_the_cache(tmp_path):
    env = {"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    with pytest.raises(InputError) as refused:
        hub_snapshot("FacebookAI/roberta-base", env)
    message = str(refused.value)
    assert message == (f"model: FacebookAI/roberta-base is neither a checkpoint directory nor in the Hugging Face "
                       f"cache ({tmp_path}/hub), and HF_HUB_OFFLINE=1 forbids downloading it; run once where the "
                       "hub can be reached, or set model to a checkpoint directory")
