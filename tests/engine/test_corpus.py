"""Cutting the corpus into shards: the unit of work, of output files and of resume."""
import numpy as np

from engine.corpus import FILE_SHIFT, CorpusShard, check_corpus, corpus_shards, read_shards
from engine.shards import unnest


def test_shards_cover_each_file_in_order_and_never_span_two_files():
    shards = corpus_shards(["a.csv", "b.csv"], [5, 3], shard_documents=2)
    assert [(s.file_index, s.start, s.stop) for s in shards] == [(0, 0, 2), (0, 2, 4), (0, 4, 5), (1, 0, 2), (1, 2, 3)]
    assert [s.name for s in shards][:2] == ["file00000-doc000000000", "file00000-doc000000002"]
    assert len({s.name for s in shards}) == len(shards)


def test_max_documents_cuts_the_last_shard_and_drops_later_files():
    shards = corpus_shards(["a.csv", "b.csv", "c.csv"], [5, 3, 4], shard_documents=4, max_documents=7)
    assert [(s.file_index, s.start, s.stop) for s in shards] == [(0, 0, 4), (0, 4, 5), (1, 0, 2)]
    assert sum(s.stop - s.start for s in shards) == 7


def test_a_file_is_read_once_into_the_shards_asked_for(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("text\n" + "\n".join(f"doc {i}" for i in range(7)) + "\n")
    assert check_corpus([str(path)], ["text"], "auto", "utf-8") == [7]
    wanted = [CorpusShard(3, str(path), 2, 4), CorpusShard(3, str(path), 6, 7)]
    batch = {"path": np.array([str(path)]), "file_index": np.array([3]), "starts": np.array([[2, 6]]),
             "stops": np.array([[4, 7]]), "names": np.array([[s.name for s in wanted]])}
    shards = [shard for row in read_shards(batch, ["text"], "auto", "utf-8") for shard in unnest(row)]
    assert [name for name, _ in shards] == [s.name for s in wanted]
    assert shards[0][1].column("text").to_pylist() == ["doc 2", "doc 3"]
    assert shards[1][1].column("doc_id").to_pylist() == [(3 << FILE_SHIFT) + 6]
