"""Sentence splitting and tokenization."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from engine.contract.store import commit_model
from engine.text import SentenceTokenizer, load_tokenizer, split_sentences, tokenizer_record, worker_tokenizer


def test_splits_on_sentence_punctuation_followed_by_space():
    assert split_sentences("It was fine. Really! Was it? yes.") == ["It was fine.", "Really!", "Was it?", "yes."]


def test_lowercase_dialog_and_closing_quotes_split_too():
    assert split_sentences('you\'re asking me out. that\'s so cute. "what\'s your name?" he said') == [
        "you're asking me out.", "that's so cute.", "\"what's your name?\"", "he said"]


def test_abbreviations_initials_and_ellipsis_inside_words_do_not_split():
    assert split_sentences("Mr. Smith met Dr. Jones at 5 p.m. on J. R. Street.") == [
        "Mr. Smith met Dr. Jones at 5 p.m. on J. R. Street."]
    assert split_sentences("no space...after") == ["no space...after"]


def test_blank_text_has_no_sentence():
    assert split_sentences("   ") == []


def test_tokenizer_step_emits_one_row_per_sentence_and_repeats_other_columns(tiny_bert):
    step = SentenceTokenizer.for_model(tiny_bert, max_tokens=4)
    out = step({"doc_id": np.array([10, 11, 12]), "text": np.array(["good movie. bad plot and bad acting!", "   ", "fun"], dtype=object)})
    assert out.column("doc_id").to_pylist() == [10, 10, 12]
    assert out.column("sentence_index").to_pylist() == [0, 1, 0]
    assert [len(x) for x in out.column("input_ids").to_pylist()] == [3, 4, 1]  # "good movie ." ; cut to 4 ; "fun"
    assert str(out.schema.field("input_ids").type) == "list<item: int32>"


def test_tokenizer_step_without_splitting_keeps_whole_texts(tiny_bert):
    out = SentenceTokenizer.for_model(tiny_bert, max_tokens=100, split=False)({"label": np.array([1]), "text": np.array(["good. bad."], dtype=object)})
    assert out.column("sentence_index").to_pylist() == [0] and len(out.column("input_ids")[0]) == 4


def test_tokenizer_step_on_no_text_gives_an_empty_table_of_the_same_schema(tiny_bert):
    step = SentenceTokenizer.for_model(tiny_bert, max_tokens=8)
    full = step({"doc_id": np.array([1]), "text": np.array(["fun"], dtype=object)})
    empty = step({"doc_id": np.zeros(0, np.int64), "text": np.array([], dtype=object)})
    assert empty.num_rows == 0 and empty.schema == full.schema


def test_tokenizer_step_never_imports_torch_or_transformers(tiny_bert):
    # A text worker that imported them would spend ~2 s of CPU starting and hold ~0.4 GiB more.
    probe = ("import sys, numpy as np; from engine.text import SentenceTokenizer; "
             f"out = SentenceTokenizer({tiny_bert!r}, max_tokens=8)({{'text': np.array(['good movie. fun'], dtype=object)}}); "
             "assert out.num_rows == 2; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.stdout.strip() == "[]"


def test_tokenizer_step_gives_hugging_faces_wordpieces_when_tokenizer_config_changes_them(tiny_bert, tmp_path):
    assert worker_tokenizer(tiny_bert) is None  # tokenizer.json is the tokenizer: workers read the file
    cased = shutil.copytree(tiny_bert, tmp_path / "cased")
    config = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    text = "Good movie. Fun"
    expected = load_tokenizer(str(cased))(["Good movie.", "Fun"], add_special_tokens=False)["input_ids"]
    out = SentenceTokenizer.for_model(str(cased), max_tokens=8)({"text": np.array([text], dtype=object)})
    assert out.column("input_ids").to_pylist() == expected
    worker = SentenceTokenizer(str(cased), max_tokens=8, configured=worker_tokenizer(str(cased)))  # as Ray builds it
    assert worker({"text": np.array([text], dtype=object)}).column("input_ids").to_pylist() == expected
    lowercased = SentenceTokenizer(str(cased), max_tokens=8)({"text": np.array([text], dtype=object)})
    assert lowercased.column("input_ids").to_pylist() != expected  # tokenizer.json alone lowercases


def test_a_models_recorded_tokenizer_spares_the_driver_transformers(tiny_bert, tmp_path):
    model = shutil.copytree(tiny_bert, tmp_path / "model")
    commit_model(str(model), {"tokenizer": tokenizer_record(tiny_bert)})  # as the training jobs commit it
    probe = ("import sys; from engine.text import worker_tokenizer; "
             f"print(worker_tokenizer({str(model)!r}), 'transformers' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.stdout.strip() == "None False"


def test_a_recorded_tokenizer_no_longer_counts_once_its_files_change(tiny_bert, tmp_path):
    model = shutil.copytree(tiny_bert, tmp_path / "model")
    commit_model(str(model), {"tokenizer": tokenizer_record(tiny_bert)})
    config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    configured = worker_tokenizer(str(model))  # the record says "as file", but for other files
    assert configured is not None
    text = np.array(["Good movie"], dtype=object)
    assert (SentenceTokenizer(str(model), max_tokens=8, configured=configured)({"text": text}).column("input_ids")
            .to_pylist() == load_tokenizer(str(model))(["Good movie"], add_special_tokens=False)["input_ids"])


def test_a_record_that_the_file_is_not_the_tokenizer_is_checked_again(tiny_bert, tmp_path):
    cased = shutil.copytree(tiny_bert, tmp_path / "cased")
    config = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    record = tokenizer_record(str(cased))
    assert record["as_file"] is False
    commit_model(str(cased), {"tokenizer": record})
    assert worker_tokenizer(str(cased)) is not None
