"""A model named by its Hugging Face id (`model: FacebookAI/roberta-base`, or `...@REVISION`):
found in the Hugging Face cache, downloaded into it once where the hub can be reached.

The environment (HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE) is passed in, not read here, so the
caller says which one applies. Only what taskpt reads is downloaded: config.json, the
safetensors weights and the tokenizer files.
"""
from __future__ import annotations

import os
import re

from engine.contract.store import TOKENIZER_FILES
from engine.errors import InputError

# `name` or `owner/name`, optionally `@revision` (a branch, tag or commit).
MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(@[\w./-]+)?$")
CHECKPOINT_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors",
                    *TOKENIZER_FILES]


def is_model_id(value: str) -> bool:
    """Whether `value` reads as a Hugging Face model id rather than a path: `name` or
    `owner/name[@revision]`, with no `./`, `..`, `~` or scheme."""
    return bool(MODEL_ID.match(value)) and ".." not in value and "://" not in value


def hub_cache(env: dict[str, str]) -> str:
    """The Hugging Face hub cache as huggingface_hub finds it: HF_HUB_CACHE, else
    HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME for ~/.cache)."""
    if env.get("HF_HUB_CACHE"):
        return os.path.expanduser(env["HF_HUB_CACHE"])
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME", "~"), ".cache"),
                                               "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def is_offline(env: dict[str, str]) -> bool:
    return env.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def hub_snapshot(model_id: str, env: dict[str, str], key: str = "model") -> str:
    """The directory of `model_id`'s checkpoint in the Hugging Face cache, downloaded there
    first when it is not and the hub can be reached (not HF_HUB_OFFLINE). Raises InputError, one
    line naming `key`, the id and the cache, when it cannot be had."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    repo, _, revision = model_id.partition("@")
    cache, offline = hub_cache(env), is_offline(env)
    try:
        return snapshot_download(repo, revision=revision or None, cache_dir=cache, local_files_only=offline,
                                 allow_patterns=CHECKPOINT_FILES)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        why = ("HF_HUB_OFFLINE=1 forbids downloading it" if offline
               else "the Hugging Face hub could not be reached to download it")
        raise InputError(f"{key}: {model_id} is neither a checkpoint directory nor in the Hugging Face cache "
                         f"({cache}), and {why}; run once where the hub can be reached, or set {key} to a "
                         "checkpoint directory") from None
    except HfHubHTTPError as e:  # no such repository or revision, gated, ...
        raise InputError(f"{key}: {model_id} could not be downloaded from the Hugging Face hub: "
                         f"{str(e).strip().splitlines()[0]}") from None
