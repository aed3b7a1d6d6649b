"""The config is validated on load; every error names the key."""
import textwrap

import pytest
import yaml

from jobs.config import PipelineConfig, load_config
from jobs.validate import ConfigError

MINIMAL = """
model: models/general
store: store
task: {train: t.tsv, dev: d.tsv, test: e.tsv}
domain: {corpus: "corpus/*.txt"}
"""


def config_file(tmp_path, text=MINIMAL, extra=""):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text) + textwrap.dedent(extra))
    return str(path)


def test_minimal_config_gets_the_published_defaults(tmp_path):
    cfg = load_config(config_file(tmp_path))
    assert isinstance(cfg, PipelineConfig)
    assert cfg.score.delta == 0.01 and cfg.tag.mask_ratio == 0.15 and cfg.tagger.class_weights == [1.0, 3.0]
    assert cfg.finetune.lr == 2e-5 and cfg.tagger.lr == 1e-5 and cfg.pretrain.max_seq == 256
    assert cfg.task.text_column == "text" and cfg.pretrain.arms == ["selective", "random"]


def test_local_paths_become_absolute_and_uris_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models/general").mkdir(parents=True)
    (tmp_path / "models/general/config.json").write_text("{}")
    cfg = load_config(config_file(tmp_path), ["store=s3://bucket/taskpt"])
    assert cfg.model == str(tmp_path / "models/general") and cfg.store == "s3://bucket/taskpt"
    assert cfg.domain.corpus == str(tmp_path / "corpus/*.txt")


def test_a_model_that_reads_as_a_hugging_face_id_and_is_no_directory_here_stays_an_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(config_file(tmp_path), ["model=FacebookAI/roberta-base"]).model == "FacebookAI/roberta-base"
    assert load_config(config_file(tmp_path), ["model=models/general"]).model == "models/general"
    assert load_config(config_file(tmp_path), ["model=data/models/general"]).model == str(tmp_path / "data/models/general")


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'tagger.epoch' is not known"):
        load_config(config_file(tmp_path, extra="tagger: {epoch: 3}\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'finetune.batch_size': expected int, got 'big'"):
        load_config(config_file(tmp_path, extra="finetune: {batch_size: big}\n"))
    with pytest.raises(ConfigError, match=r"config key 'score.split_sentences': expected bool, got 1"):
        load_config(config_file(tmp_path, extra="score: {split_sentences: 1}\n"))


def test_missing_required_key_is_named(tmp_path):
    text = MINIMAL.replace("dev: d.tsv, ", "")
    with pytest.raises(ConfigError, match=r"config key 'task.dev' is required"):
        load_config(config_file(tmp_path, text))


def test_out_of_range_values_and_unknown_arms_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'tag.mask_ratio': 1.5 is outside"):
        load_config(config_file(tmp_path), ["tag.mask_ratio=1.5"])
    with pytest.raises(ConfigError, match=r"'pretrain.arms': 'bert' is not one of"):
        load_config(config_file(tmp_path), ["pretrain.arms=[selective, bert]"])


def test_command_line_overrides_are_typed_and_validated(tmp_path):
    cfg = load_config(config_file(tmp_path), ["tagger.epochs=2", "tag.mask_ratio=0.2", "domain.text_column=[a, b]",
                                              "compute.gpus_per_actor=0.25"])
    assert cfg.tagger.epochs == 2 and cfg.tag.mask_ratio == 0.2
    assert cfg.domain.text_column == ["a", "b"] and cfg.compute.gpus_per_actor == 0.25
    with pytest.raises(ConfigError, match="config key 'tagger.epochs': expected int"):
        load_config(config_file(tmp_path), ["tagger.epochs=two"])
    with pytest.raises(ConfigError, match="not of the form key.sub=value"):
        load_config(config_file(tmp_path), ["tagger.epochs"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(config_file(tmp_path), ["seed=7"])
    again = tmp_path / "resolved.yaml"
    again.write_text(cfg.to_yaml())
    assert load_config(str(again)) == cfg
    assert yaml.safe_load(cfg.to_yaml())["seed"] == 7


def test_the_demo_config_is_valid():
    cfg = load_config("configs/demo.yaml")
    assert cfg.domain.text_column == ["statement", "reply"]


def test_the_gpu_demo_config_differs_from_the_demo_in_size_only():
    import dataclasses

    cpu, gpu = load_config("configs/demo.yaml"), load_config("configs/demo-gpu.yaml")
    differing = {f"{section}.{key}" for section, values in dataclasses.asdict(gpu).items() if isinstance(values, dict)
                 for key, value in values.items() if dataclasses.asdict(cpu)[section][key] != value}
    assert differing <= {"task.max_train_examples", "score.max_examples", "domain.max_documents", "finetune.epochs",
                         "finetune.log_every", "tagger.log_every", "pretrain.log_every", "compute.concurrent_stages"}
    assert gpu.task.max_train_examples == 0 and gpu.domain.max_documents >= 10 * cpu.domain.max_documents


def test_the_in_domain_experiment_configs_ask_for_what_the_experiment_must_show():
    cpu, gpu = load_config("configs/movies-cpu.yaml"), load_config("configs/movies-gpu.yaml")
    for cfg in (cpu, gpu):
        assert cfg.domain.corpus.endswith("data/demo/reviews.csv")  # make movies-data writes them
        assert cfg.pretrain.head_warmup.steps > 0 and cfg.pretrain.head_warmup.corpus.endswith("data/demo/wikitext.txt")
        assert {"general", "random", "selective", "selective_content"} <= set(cfg.experiment.arms)
        assert cfg.experiment.pretrain_seeds >= 2 and cfg.experiment.seeds >= 5
    assert cpu.task.max_train_examples == 1000 and gpu.task.max_train_examples == 0
    assert "tapt" in gpu.experiment.arms and gpu.experiment.seeds >= 6


def test_on_a_cpu_cluster_the_model_actor_gets_every_core_unless_the_config_says_otherwise(tmp_path, local_ray):
    from jobs.common import actor_pool

    pool = actor_pool(load_config(config_file(tmp_path)))  # the test session's local Ray: 2 CPUs, no GPU
    assert (pool.gpus, pool.cpu_threads, pool.tokenizer_actors, pool.max_batch_tokens) == (0.0, 2, 1, None)
    pool = actor_pool(load_config(config_file(tmp_path, extra="""
        compute: {cpu_threads: 1, tokenizer_actors: 3, actors_max: 2, max_batch_tokens: 512}
    """)))
    assert (pool.cpu_threads, pool.tokenizer_actors, pool.max_size, pool.max_batch_tokens) == (1, 3, 2, 512)


def test_a_gpu_actor_works_on_two_shards_at_once_and_a_cpu_actor_on_one(tmp_path, local_ray):
    from jobs.common import actor_pool

    assert actor_pool(load_config(config_file(tmp_path))).strategy().max_concurrent_calls_per_actor == 1
    gpu = actor_pool(load_config(config_file(tmp_path, extra="compute: {gpus_per_actor: 1}")))
    strategy = gpu.strategy()
    assert (gpu.concurrent_shards, strategy.max_concurrent_calls_per_actor, strategy.enable_true_multi_threading) == (2, 2, True)
    assert actor_pool(load_config(config_file(tmp_path, extra="compute: {gpus_per_actor: 1, concurrent_shards: 3}"))
                      ).concurrent_shards == 3
    with pytest.raises(ConfigError, match="compute.concurrent_shards"):
        load_config(config_file(tmp_path, extra="compute: {concurrent_shards: 0}"))


def test_model_actors_pack_sentences_as_the_config_says_and_by_device_when_it_is_silent(tmp_path, local_ray):
    from jobs.common import actor_pool

    assert actor_pool(load_config(config_file(tmp_path))).pack_sequences is None  # the actor's device decides
    for value in (True, False):
        extra = f"compute: {{pack_sequences: {str(value).lower()}}}"
        assert actor_pool(load_config(config_file(tmp_path, extra=extra))).pack_sequences is value
    with pytest.raises(ConfigError, match="compute.pack_sequences"):
        load_config(config_file(tmp_path, extra="compute: {pack_sequences: 3}"))


def test_model_actors_compile_their_layers_only_when_the_config_says(tmp_path, local_ray):
    from engine.pipelines import _model
    from jobs.common import actor_pool

    assert actor_pool(load_config(config_file(tmp_path))).compile_model is False
    pool = actor_pool(load_config(config_file(tmp_path, extra="compute: {compile_model: true}")))
    assert pool.compile_model is True
    seen = {}

    class Dataset:  # what _model hands Ray Data for the actor's constructor
        def map_batches(self, fn, fn_constructor_kwargs, **kwargs):
            seen.update(fn_constructor_kwargs["step_kwargs"])

    _model(Dataset(), object, {"model_path": "m"}, pool)
    assert seen["compile_model"] is True
    with pytest.raises(ConfigError, match="compute.compile_model"):
        load_config(config_file(tmp_path, extra="compute: {compile_model: 3}"))


def test_corpus_reads_are_capped_at_two_per_model_actor_unless_the_config_says(tmp_path, local_ray):
    """Every read at once is a worker process starting beside the model actor: with 44 files on
    16 cores the tagger's start took 42 s (docs/performance.md)."""
    from jobs.common import actor_pool

    assert actor_pool(load_config(config_file(tmp_path))).reads() == 2
    assert actor_pool(load_config(config_file(tmp_path, extra="compute: {actors_max: 3}"))).reads() == 6
    assert actor_pool(load_config(config_file(tmp_path, extra="compute: {read_tasks: 5}"))).reads() == 5
    with pytest.raises(ConfigError, match="compute.read_tasks"):
        load_config(config_file(tmp_path, extra="compute: {read_tasks: 0}"))
