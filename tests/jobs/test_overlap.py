"""`taskpt overlap A B ...`: corpora in any format in, a heatmap PNG and the matrix as JSON out;
bad input stops before anything is counted or written."""
import json
import struct

import numpy as np
import pytest

from engine.vocabulary import overlap_matrix, top_words, unigram_counts
from jobs.overlap import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REVIEWS = ["A brilliant film, brilliant acting.", "The plot is dull; the acting is fine.", "Brilliant plot twist!"]
MORE_REVIEWS = ["Brilliant acting, dull film.", "A moving plot and brilliant acting.", "Plot holes."]
DIALOG = [("Where are you going?", "Home, the ship sails at dawn."), ("Ship? What ship?", "The captain's ship.")]


@pytest.fixture
def corpora(tmp_path):
    """Reviews as CSV and as JSONL, dialog as a two-column CSV: with their texts, for known answers."""
    (tmp_path / "reviews.csv").write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(REVIEWS)))
    (tmp_path / "more.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in MORE_REVIEWS))
    (tmp_path / "dialog.csv").write_text("statement,reply\n" + "".join(f'"{s}","{r}"\n' for s, r in DIALOG))
    return tmp_path


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which follows the signature."""
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_overlap_writes_a_heatmap_and_the_matrix_the_engine_computes(corpora, capsys):
    out = corpora / "out"
    argv = [str(corpora / "reviews.csv"), str(corpora / "more.jsonl"), str(corpora / "dialog.csv"),
            "--text-column", "text", "--text-column", "text", "--text-column", "statement,reply",
            "--top", "3", "--out", str(out)]
    assert main(argv) == 0

    png = (out / "overlap.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert min(png_size(png)) > 0
    report = json.loads((out / "overlap.json").read_text())
    texts = [REVIEWS, MORE_REVIEWS, [cell for row in DIALOG for cell in row]]
    expected = overlap_matrix([top_words(unigram_counts(t), 3) for t in texts])
    matrix = np.array(report["matrix"])
    assert np.array_equal(matrix, expected)
    assert np.array_equal(matrix, matrix.T) and np.array_equal(np.diag(matrix), [100, 100, 100])
    # by hand: top-3 {brilliant, acting, plot} twice; dialog's {ship, captain's, dawn} shares none
    assert matrix[0, 1] == 100 and matrix[0, 2] == matrix[1, 2] == 0
    assert report["names"] == ["reviews", "more", "dialog"] and report["top"] == 3
    assert report["documents"] == [3, 3, 4]
    assert [p[0] for p in report["paths"]] == [str(corpora / n) for n in ("reviews.csv", "more.jsonl", "dialog.csv")]
    printed = capsys.readouterr().out
    assert "[taskpt overlap] counted 9 words in 4 documents of dialog" in printed
    assert not list(out.glob("*.tmp"))


def test_a_glob_is_one_corpus_and_txt_is_a_document_per_line(corpora):
    (corpora / "part1.txt").write_text("brilliant film\nship\n")
    (corpora / "part2.txt").write_text("dull plot\n")
    out = corpora / "out"
    assert main([str(corpora / "part*.txt"), str(corpora / "reviews.csv"), "--names", "parts,reviews",
                 "--out", str(out)]) == 0
    report = json.loads((out / "overlap.json").read_text())
    assert report["names"] == ["parts", "reviews"] and len(report["paths"][0]) == 2
    assert report["documents"][0] == 3 and report["vocabulary_sizes"][0] == 5


def test_a_missing_corpus_file_exits_2_naming_it_and_writes_nothing(corpora, capsys):
    missing = corpora / "nowhere.csv"
    out = corpora / "out"
    assert main([str(corpora / "reviews.csv"), str(missing), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("taskpt overlap: error:") and str(missing) in error
    assert "counted" not in error and not out.exists()


def test_a_missing_text_column_exits_2_naming_the_file_and_column(corpora, capsys):
    out = corpora / "out"
    assert main([str(corpora / "reviews.csv"), str(corpora / "dialog.csv"), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert str(corpora / "dialog.csv") in error and "'text'" in error
    assert not out.exists()


@pytest.mark.parametrize("extra, named", [(["--names", "only-one"], "--names"),
                                          (["--text-column", "a", "--text-column", "b", "--text-column", "c"],
                                           "--text-column"),
                                          (["--names", "same,same"], "same")])
def test_options_that_do_not_fit_the_corpora_exit_2_naming_the_option(corpora, capsys, extra, named):
    out = corpora / "out"
    assert main([str(corpora / "reviews.csv"), str(corpora / "more.jsonl"), *extra, "--out", str(out)]) == 2
    assert named in capsys.readouterr().err and not out.exists()


def test_a_glob_matching_nothing_exits_2_naming_the_pattern(corpora, capsys):
    pattern = str(corpora / "none*.csv")
    assert main([str(corpora / "reviews.csv"), pattern, "--out", str(corpora / "out")]) == 2
    assert pattern in capsys.readouterr().err
