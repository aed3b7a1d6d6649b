"""Bad input stops before any work, with one message naming the file, row or key."""
import json

import polars as pl
import pytest

from engine.corpus import check_corpus, corpus_files, file_documents
from engine.errors import InputError
from engine.labeled import encode_labels, label_set, load_labeled
from engine.models import check_checkpoint
from engine.readers import read_table


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_reads_csv_tsv_jsonl_parquet_and_text(tmp_path):
    csv = write(tmp_path / "a.csv", 'text,label\n"good, really",pos\nbad,neg\n')
    tsv = write(tmp_path / "a.tsv", 'text\tlabel\na "quoted" word\tpos\n')
    jsonl = write(tmp_path / "a.jsonl", '{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
    parquet = str(tmp_path / "a.parquet")
    pl.DataFrame({"text": ["x"], "label": [1]}).write_parquet(parquet)
    txt = write(tmp_path / "a.txt", "first doc\nsecond doc\n")
    assert load_labeled(csv, "text", "label")["text"].to_list() == ["good, really", "bad"]
    assert load_labeled(tsv, "text", "label")["label"].to_list() == ["pos"]
    assert load_labeled(jsonl, "text", "label")["label"].to_list() == ["1", "0"]
    assert load_labeled(parquet, "text", "label")["label"].to_list() == ["1"]
    assert read_table(txt, text_column="body")["body"].to_list() == ["first doc", "second doc"]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.csv: file not found"):
        load_labeled(str(tmp_path / "nope.csv"), "text", "label")


def test_missing_column_is_named_with_the_columns_there(tmp_path):
    path = write(tmp_path / "a.csv", "sentence,label\nx,1\n")
    with pytest.raises(InputError, match=r"a.csv: no column 'text' \(columns: \['sentence', 'label'\]\)"):
        load_labeled(path, "text", "label")


def test_blank_text_names_the_row(tmp_path):
    path = write(tmp_path / "a.tsv", "text\tlabel\ngood\t1\n   \t0\nbad\t0\n")
    with pytest.raises(InputError, match="a.tsv: row 2: empty text"):
        load_labeled(path, "text", "label")


def test_label_outside_the_label_set_names_the_row(tmp_path):
    train = load_labeled(write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n"), "text", "label")
    dev_path = write(tmp_path / "dev.csv", "text,label\na,pos\nb,neutral\n")
    labels = label_set(train, None)
    assert labels == ["neg", "pos"]
    with pytest.raises(InputError, match=r"dev.csv: row 2: label 'neutral' is not in the label set \['neg', 'pos'\]"):
        encode_labels(load_labeled(dev_path, "text", "label"), labels, dev_path)
    assert encode_labels(train, labels, "train.csv")["label"].to_list() == [1, 0]


def test_undecodable_bytes_name_the_line_and_the_encoding(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("text,label\ngood,1\n".encode() + "caf\xe9,0\n".encode("latin-1"))
    with pytest.raises(InputError, match="a.csv: line 3: .* not valid utf-8"):
        load_labeled(str(path), "text", "label")
    assert load_labeled(str(path), "text", "label", encoding="latin-1")["text"].to_list() == ["good", "café"]


def test_corpus_with_no_text_is_refused_before_any_work(tmp_path):
    path = write(tmp_path / "c.csv", "a,b\n , \n,\n")
    with pytest.raises(InputError, match=r"c.csv: the corpus has no non-blank text in column\(s\) \['a', 'b'\]"):
        check_corpus([path], ["a", "b"], "auto", "utf-8")


def test_corpus_documents_are_every_non_blank_cell_row_by_row(tmp_path):
    path = write(tmp_path / "c.csv", "statement,reply\nhi there,hello\n ,only reply\n,\t\n  padded  ,\n")
    assert file_documents(path, ["statement", "reply"], "auto", "utf-8").to_list() == [
        "hi there", "hello", "only reply", "padded"]


def test_corpus_glob_that_matches_nothing_names_the_key(tmp_path):
    with pytest.raises(InputError, match="domain.corpus: no file matches"):
        corpus_files(str(tmp_path / "*.txt"))


def test_a_checkpoint_that_is_not_bert_is_refused(tmp_path, tiny_bert):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(InputError, match="model: .* has model_type 'gpt2'"):
        check_checkpoint(str(tmp_path))
    with pytest.raises(InputError, match="no config.json"):
        check_checkpoint(str(tmp_path / "missing"))
    assert check_checkpoint(tiny_bert)["model_type"] == "bert"


def test_a_pickled_checkpoint_is_refused_and_never_unpickled(tiny_tagger, tmp_path):
    import shutil

    import torch
    import transformers

    from engine.tagger import MaskTagger

    pickled = tmp_path / "pickled"
    model = transformers.BertForTokenClassification.from_pretrained(tiny_tagger)
    model.config.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # the weights as a pickle
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(f"{tiny_tagger}/{name}", pickled / name)
    assert (pickled / "pytorch_model.bin").exists() and not (pickled / "model.safetensors").exists()
    with pytest.raises(InputError, match="no safetensors weights"):
        check_checkpoint(str(pickled))
    with pytest.raises(OSError, match="safetensors"):  # the loaders ask for safetensors only
        MaskTagger(str(pickled))


def test_a_utf8_file_with_a_byte_order_mark_has_its_first_column_by_name(tmp_path):
    """Spreadsheet exports start with one; it is not part of the first column's name."""
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\ngood,1\nbad,0\n")
    assert load_labeled(str(path), "text", "label")["text"].to_list() == ["good", "bad"]
