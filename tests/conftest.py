"""Shared fixtures: a tiny BERT built from a config (no download) and a local Ray."""
from __future__ import annotations

import collections
import os

import pytest

from engine.contract.store import TOKENIZER_FILES
from trainer.local_ray import LOCAL_RAY_ENV, LOCAL_RUNTIME_ENV

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub

S3_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}

WORDS = """the a an and or but not no is was are be this that it of to in on for with as at by
from movie film story plot actor acting great good bad terrible awful wonderful boring funny
dull brilliant love hate best worst fun moving slow mess masterpiece charming script you me
what who your my i he she they we do did have has yes okay go come know think want see tell
here there now then well just like really very too so much more time life man way night""".split()


def build_tiny_bert(path, num_labels: int = 2, seed: int = 0, hidden: int = 32, layers: int = 2) -> str:
    """A randomly initialised 2-layer BERT with a small wordpiece vocabulary, saved as a Hugging
    Face directory (config.json, model.safetensors, tokenizer.json)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    os.makedirs(path, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    punctuation = list(".,!?'\"-:;()0123456789")
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + letters + punctuation
             + ["##" + c for c in letters])
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast(vocab=os.path.join(path, "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=300,
                        num_labels=num_labels)
    BertModel(config).save_pretrained(path)
    return str(path)


# The byte-level BPE and Unigram tokenizers' special tokens, in RoBERTa's id order (<pad> = 1).
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def build_tiny_roberta(path, model_type: str = "roberta", seed: int = 0, hidden: int = 32, layers: int = 2) -> str:
    """A randomly initialised 2-layer RoBERTa (model_type "roberta": a byte-level BPE tokenizer,
    `Ġ` marking word starts) or XLM-R ("xlm-roberta": a SentencePiece Unigram tokenizer, `▁`),
    each tokenizer trained here on WORDS, saved as a Hugging Face directory."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    os.makedirs(path, exist_ok=True)
    texts = [" ".join(WORDS[i:i + 7]) + "." for i in range(0, len(WORDS), 3)]
    texts += [t.capitalize() + " " + t for t in texts]
    if model_type == "roberta":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
            vocab_size=700, special_tokens=ROBERTA_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False))
        fast, config_class = transformers.RobertaTokenizerFast, transformers.RobertaConfig
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        tokenizer.train_from_iterator(texts, trainers.UnigramTrainer(
            vocab_size=250, special_tokens=ROBERTA_SPECIALS, unk_token="<unk>", show_progress=False))
        fast, config_class = transformers.XLMRobertaTokenizerFast, transformers.XLMRobertaConfig
    named = dict(zip(("bos_token", "pad_token", "eos_token", "unk_token", "mask_token"), ROBERTA_SPECIALS))
    hf_tokenizer = fast(tokenizer_object=tokenizer, cls_token="<s>", sep_token="</s>", **named)
    hf_tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = config_class(vocab_size=len(hf_tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                          num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=300 + 2,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, type_vocab_size=1)
    transformers.AutoModel.from_config(config).save_pretrained(path)
    return str(path)


# The families the model actors run with transformers' own forward, built by build_tiny_encoder.
TRANSFORMERS_FAMILIES = ("distilbert", "electra", "deberta-v2", "modernbert")
BERT_SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]


def build_tiny_encoder(path, model_type: str, seed: int = 0, hidden: int = 32, layers: int = 2) -> str:
    """A randomly initialised 2-layer encoder of a family in TRANSFORMERS_FAMILIES with a tokenizer
    of the family's kind trained here on WORDS: WordPiece (DistilBERT, ELECTRA), SentencePiece
    Unigram with `▁` (DeBERTa-v3), byte-level BPE with `Ġ` and [CLS]/[SEP] names (ModernBERT)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    os.makedirs(path, exist_ok=True)
    texts = [" ".join(WORDS[i:i + 7]) + "." for i in range(0, len(WORDS), 3)]
    texts += [t.capitalize() + " " + t for t in texts]
    named = dict(pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]", mask_token="[MASK]")
    if model_type in ("distilbert", "electra"):
        build_tiny_bert(path)  # its WordPiece vocabulary and tokenizer; the weights are replaced below
        os.remove(os.path.join(path, "model.safetensors"))
        vocab_size = len(transformers.AutoTokenizer.from_pretrained(path))
    else:
        if model_type == "deberta-v2":
            tokenizer = Tokenizer(models.Unigram())
            tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
            trainer = trainers.UnigramTrainer(vocab_size=250, special_tokens=BERT_SPECIALS, unk_token="[UNK]",
                                              show_progress=False)
        else:
            tokenizer = Tokenizer(models.BPE())
            tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tokenizer.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=BERT_SPECIALS, show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(texts, trainer)
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
        fast = (transformers.DebertaV2TokenizerFast if model_type == "deberta-v2"
                else transformers.PreTrainedTokenizerFast)
        fast(tokenizer_object=tokenizer, **named).save_pretrained(path)
        vocab_size = tokenizer.get_vocab_size()
    sizes = dict(vocab_size=vocab_size, max_position_embeddings=300, pad_token_id=0)
    config = {
        "distilbert": lambda: transformers.DistilBertConfig(dim=hidden, n_layers=layers, n_heads=2,
                                                            hidden_dim=2 * hidden, **sizes),
        "electra": lambda: transformers.ElectraConfig(embedding_size=hidden, hidden_size=hidden,
                                                      num_hidden_layers=layers, num_attention_heads=2,
                                                      intermediate_size=2 * hidden, **sizes),
        "deberta-v2": lambda: transformers.DebertaV2Config(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
            relative_attention=True, position_biased_input=False, pos_att_type=["p2c", "c2p"],
            max_relative_positions=-1, position_buckets=32, norm_rel_ebd="layer_norm", share_att_key=True,
            type_vocab_size=0, **sizes),
        "modernbert": lambda: transformers.ModernBertConfig(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
            cls_token_id=1, sep_token_id=2, bos_token_id=1, eos_token_id=2, **sizes),
    }[model_type]()
    torch.manual_seed(seed)
    transformers.AutoModel.from_config(config).save_pretrained(path)
    return str(path)


HubHome = collections.namedtuple("HubHome", "home model_id snapshot")


@pytest.fixture
def hf_home(tmp_path, tiny_bert) -> HubHome:
    """An HF_HOME whose hub cache holds the tiny BERT as `org/tiny-bert` (refs main and v1), laid
    out as huggingface_hub lays out a download: models--OWNER--NAME/refs/REF holds the commit,
    snapshots/COMMIT/ the files."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf-home" / "hub" / "models--org--tiny-bert"
    (repo / "refs").mkdir(parents=True)
    for ref in ("main", "v1"):
        (repo / "refs" / ref).write_text(commit)
    snapshot = shutil.copytree(tiny_bert, repo / "snapshots" / commit)
    return HubHome(tmp_path / "hf-home", "org/tiny-bert", str(snapshot))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> str:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"), "roberta")


@pytest.fixture(scope="session")
def tiny_xlmr(tmp_path_factory) -> str:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-xlmr"), "xlm-roberta")


@pytest.fixture(scope="session")
def local_ray():
    import ray

    # Workers get the loopback S3 server's dummy credentials the way cluster workers get real
    # ones: from their environment (a pickled pyarrow S3 filesystem carries no env credentials).
    # address="local": always a new cluster, never one a `ray start` elsewhere left behind.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={**LOCAL_RUNTIME_ENV, "env_vars": {**S3_TEST_CREDENTIALS, **LOCAL_RAY_ENV}})
    yield ray
    ray.shutdown()


def scenario_server(argv: list[str], env: dict, results, what: str):
    """A process that owns a cluster and runs scenarios read from its stdin, one a line (`MODE
    ARG... RESULT.json`), started at the first call: (run, close). `run(mode, *args)` returns the
    scenario's result; `close()` ends the input, and with it the cluster."""
    import json
    import subprocess
    import time

    server = []

    def run(mode: str, *args: str) -> dict:
        if not server:
            server.append(subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, text=True))
        result = results / f"{mode}-{len(list(results.glob('*.json')))}.json"
        server[0].stdin.write(" ".join([mode, *args, str(result)]) + "\n")
        server[0].stdin.flush()
        deadline = time.monotonic() + 600
        while not result.exists():
            assert server[0].poll() is None, f"the {what} process ended"
            assert time.monotonic() < deadline, f"no result from the {mode} scenario in 600 s"
            time.sleep(0.2)
        return json.loads(result.read_text())

    def close() -> None:
        if server:
            server[0].stdin.close()
            server[0].wait(timeout=120)

    return run, close


@pytest.fixture(scope="session")
def node_loss(tmp_path_factory):
    """Runs a scenario on the session's multi-node cluster (tests/node_loss.py, started at the
    first call): `node_loss(mode, source, out_dir)` returns the scenario's result."""
    import pathlib
    import sys

    project = pathlib.Path(__file__).resolve().parents[1]
    # The cluster's Ray Train workers are polled as often as a command's local Ray polls them
    # (their preemption watcher stays on, as on a cluster).
    interval = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
    env = dict(os.environ, **{interval: LOCAL_RAY_ENV[interval]},
               PYTHONPATH=os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]))
    run, close = scenario_server([sys.executable, str(project / "tests" / "node_loss.py")], env,
                                 tmp_path_factory.mktemp("node-loss"), "node-loss cluster")
    yield run
    close()


@pytest.fixture(scope="session")
def autoscaling(tmp_path_factory):
    """Runs a scenario on the session's autoscaling cluster (tests/cluster/autoscaling.py, started
    at the first call): `autoscaling(mode, *args)` returns the scenario's result."""
    import pathlib
    import sys

    project = pathlib.Path(__file__).resolve().parents[1]
    workdir = tmp_path_factory.mktemp("autoscaling")
    # The monitor the head starts inherits these: the fake provider, a 1 s autoscaler loop, and
    # the spot provider's module on its path (tests/node_loss.py's helpers beside it). Its Ray
    # jobs run `python` from PATH: this Python's.
    env = dict(os.environ, RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1",
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join([str(project / "tests" / "cluster"), str(project / "tests"), str(project),
                                           os.environ.get("PYTHONPATH", "")]))
    run, close = scenario_server([sys.executable, str(project / "tests" / "cluster" / "autoscaling.py"), str(workdir)],
                                 env, workdir, "autoscaling cluster")
    yield run
    close()

def save_with_head(base: str, path, model_class: str, seed: int = 1) -> str:
    """A tiny model with a (random, fixed) task head saved, so every load gives the same model.
    `model_class`: a transformers class name (BertForTokenClassification, AutoModelFor...)."""
    import shutil

    import torch
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, model_class).from_pretrained(base, num_labels=2)
    head = getattr(model.classifier, "out_proj", model.classifier)  # RoBERTa's sequence head ends in out_proj
    # A large random head, so that outputs differ visibly between inputs; ModernBERT's reads a
    # layer-normed vector, not a tanh, and a head as large saturates its softmax.
    std = 0.2 if model.config.model_type == "modernbert" else 2.0
    with torch.no_grad():
        head.weight.normal_(0.0, std)
    model.save_pretrained(path)
    for name in TOKENIZER_FILES:  # as taskpt's trainer copies them
        if os.path.exists(os.path.join(base, name)):
            shutil.copy(os.path.join(base, name), os.path.join(path, name))
    return str(path)


@pytest.fixture(scope="session")
def tiny_classifier(tiny_bert, tmp_path_factory) -> str:
    return save_with_head(tiny_bert, tmp_path_factory.mktemp("tiny-classifier"), "BertForSequenceClassification")


@pytest.fixture(scope="session")
def tiny_tagger(tiny_bert, tmp_path_factory) -> str:
    return save_with_head(tiny_bert, tmp_path_factory.mktemp("tiny-tagger"), "BertForTokenClassification")


@pytest.fixture(scope="session")
def family_models(tiny_bert, tiny_classifier, tiny_tagger, tiny_roberta, tiny_xlmr, tmp_path_factory) -> dict:
    """model_type -> (encoder, sequence classifier, token tagger): a tiny model of every family."""
    models = {"bert": (tiny_bert, tiny_classifier, tiny_tagger)}
    others = [(t, build_tiny_encoder(tmp_path_factory.mktemp(t), t)) for t in TRANSFORMERS_FAMILIES]
    for model_type, base in (("roberta", tiny_roberta), ("xlm-roberta", tiny_xlmr), *others):
        models[model_type] = (base, save_with_head(base, tmp_path_factory.mktemp("classifier"),
                                                   "AutoModelForSequenceClassification"),
                              save_with_head(base, tmp_path_factory.mktemp("tagger"), "AutoModelForTokenClassification"))
    return models


@pytest.fixture(scope="session")
def s3_store():
    """A real S3-compatible server (moto, in server mode) on loopback, with a bucket; yields a
    store URI that pyarrow's S3 filesystem resolves to it."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    patch = pytest.MonkeyPatch()
    for key, value in S3_TEST_CREDENTIALS.items():
        patch.setenv(key, value)
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket="taskpt-test")
    yield f"s3://taskpt-test/store?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    patch.undo()
    server.stop()


def write_table_shards(table, out_dir: str, kind: str, shards: int = 3, fingerprint: str = "f",
                       model: str = "m", params: dict | None = None, config_yaml: str = "seed: 1\n",
                       tokenizer: dict | None = None):
    """`table` written as a contract dataset of `shards` consecutive shards named part0, part1, ...
    through the engine's writer on Ray."""
    import numpy as np
    import ray.data

    from engine.shards import nest
    from engine.writer import write_sharded

    names = [f"part{i}" for i in range(shards)]
    bounds = np.linspace(0, table.num_rows, shards + 1).astype(int)
    ds = ray.data.from_arrow([nest(n, table.slice(a, b - a)) for n, a, b in zip(names, bounds, bounds[1:])])
    return write_sharded(ds, out_dir, kind, names, fingerprint=fingerprint, model=model, params=params or {},
                         config_yaml=config_yaml, tokenizer=tokenizer)


@pytest.fixture
def write_rows(local_ray):
    return write_table_shards

