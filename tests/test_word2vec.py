"""word2vec text and binary formats: our files equal gensim's byte for byte, both ways."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from diffembed.embed.keyed import KeyedVectors, NodeVectors, WordVectors
from diffembed.exceptions import InputError

KEYS = ["king", "café", "東京", "a\u00a0b", "tab\tkey", "x"]


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(len(KEYS), 5)).astype(np.float32)


def _gensim():
    return pytest.importorskip("gensim.models", reason="gensim is not installed")


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_ours_to_ours(tmp_path, vectors, binary):
    path = KeyedVectors(KEYS, vectors).save_word2vec_format(tmp_path / "v.w2v", binary=binary)
    back = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert back.keys == KEYS
    assert back.vectors.dtype == np.float32
    np.testing.assert_array_equal(back.vectors, vectors)  # float32 values survive exactly
    head = path.read_bytes().split(b"\n", 1)[0]
    assert head == b"6 5"
    limited = KeyedVectors.load_word2vec_format(path, binary=binary, limit=2)
    assert limited.keys == KEYS[:2]


def test_layout_is_the_documented_one(tmp_path):
    v = np.array([[0.5, -1.0], [0.1, 3.0]], dtype=np.float32)
    text = KeyedVectors(["a", "é"], v).save_word2vec_format(tmp_path / "t.txt")
    assert text.read_bytes() == "2 2\na 0.5 -1.0\né 0.1 3.0\n".encode()
    binary = KeyedVectors(["a", "é"], v).save_word2vec_format(tmp_path / "b.bin", binary=True)
    expected = b"2 2\n" + b"a " + struct.pack("<2f", 0.5, -1.0) + "é ".encode()
    expected += struct.pack("<2f", 0.1, 3.0)
    assert binary.read_bytes() == expected


def test_node_keys_are_written_with_str_and_read_back_as_str(tmp_path):
    nv = NodeVectors([3, 10, "n"], np.eye(3))
    back = NodeVectors.load_word2vec_format(nv.save_word2vec_format(tmp_path / "n.txt"))
    assert isinstance(back, NodeVectors)
    assert back.keys == ["3", "10", "n"]
    np.testing.assert_array_equal(back.vectors, np.eye(3))


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_writes_the_same_bytes(tmp_path, vectors, binary):
    models = _gensim()
    ours = KeyedVectors(KEYS, vectors).save_word2vec_format(tmp_path / "ours", binary=binary)
    kv = models.KeyedVectors.load_word2vec_format(str(ours), binary=binary)
    assert kv.index_to_key == KEYS
    np.testing.assert_array_equal(kv.vectors, vectors)
    theirs = tmp_path / "theirs"
    kv.save_word2vec_format(str(theirs), binary=binary)
    assert theirs.read_bytes() == ours.read_bytes()


@pytest.mark.parametrize("binary", [False, True])
def test_we_read_gensim_files(tmp_path, vectors, binary):
    models = _gensim()
    kv = models.KeyedVectors(5, count=0)
    kv.add_vectors(KEYS, vectors)
    path = tmp_path / "g"
    kv.save_word2vec_format(str(path), binary=binary)
    back = WordVectors.load_word2vec_format(path, binary=binary)
    assert isinstance(back, WordVectors)
    assert back.words == KEYS
    np.testing.assert_array_equal(back.vectors, vectors)


def test_c_tool_binary_with_newlines_after_vectors(tmp_path):
    # word2vec.c writes '\n' after every vector; gensim strips it from the next key
    data = b"2 3\n" + b"one " + struct.pack("<3f", 1, 2, 3) + b"\n"
    data += b"two " + struct.pack("<3f", 4, 5, 6) + b"\n"
    (tmp_path / "c.bin").write_bytes(data)
    back = KeyedVectors.load_word2vec_format(tmp_path / "c.bin", binary=True)
    assert back.keys == ["one", "two"]
    np.testing.assert_array_equal(back.vectors, [[1, 2, 3], [4, 5, 6]])


def test_to_gensim_and_from_gensim(vectors):
    _gensim()
    wv = WordVectors(KEYS, vectors, counts=np.arange(6, 0, -1))
    g = wv.to_gensim()
    assert g.index_to_key == KEYS
    assert g.vectors.shape == (6, 5)
    np.testing.assert_array_equal(g.vectors, vectors)
    assert g.get_vecattr("café", "count") == 5
    assert g.most_similar("king", topn=1)[0][0] == wv.most_similar("king", topn=1)[0][0]
    assert g.similarity("king", "x") == pytest.approx(wv.similarity("king", "x"), abs=1e-6)
    back = WordVectors.from_gensim(g)
    assert back.words == KEYS
    np.testing.assert_array_equal(back.counts, np.arange(6, 0, -1))
    np.testing.assert_array_equal(back.vectors, vectors)
    with pytest.raises(InputError, match=r"from_gensim needs a gensim KeyedVectors.*got list"):
        KeyedVectors.from_gensim([1, 2])


def test_repeated_keys_keep_the_first_vector(tmp_path):
    (tmp_path / "d.txt").write_text("3 2\na 1 2\nb 3 4\na 5 6\n")
    with pytest.warns(UserWarning, match="1 repeated key.*kept the first"):
        back = KeyedVectors.load_word2vec_format(tmp_path / "d.txt")
    assert back.keys == ["a", "b"]
    np.testing.assert_array_equal(back.vectors, [[1, 2], [3, 4]])


def test_keys_the_format_cannot_hold_are_refused(tmp_path):
    for bad in ("a b", "line\nbreak", ""):
        with pytest.raises(InputError, match=r"1 key\(s\) are empty or contain whitespace"):
            KeyedVectors([bad, "c"], np.eye(2)).save_word2vec_format(tmp_path / "w.txt")
    assert not (tmp_path / "w.txt").exists()
    with pytest.raises(InputError, match="NaN or infinite"):
        KeyedVectors(["a", "b"], np.array([[np.nan, 1], [1, 1]])).save_word2vec_format(
            tmp_path / "n.txt", binary=True)


def test_bad_files_name_the_problem(tmp_path, vectors):
    (tmp_path / "nohead.txt").write_text("a 1 2\n")
    with pytest.raises(InputError, match=r"does not start with a word2vec header.*'a 1 2"):
        KeyedVectors.load_word2vec_format(tmp_path / "nohead.txt")
    (tmp_path / "short.txt").write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(InputError, match="announces 3 vectors but holds 2; the file is truncated"):
        KeyedVectors.load_word2vec_format(tmp_path / "short.txt")
    (tmp_path / "fields.txt").write_text("1 3\na 1 2\n")
    with pytest.raises(InputError, match=r"line 2: expected a key and 3 numbers.*got 3 fields"):
        KeyedVectors.load_word2vec_format(tmp_path / "fields.txt")
    (tmp_path / "nan.txt").write_text("1 2\na 1 x\n")
    with pytest.raises(InputError, match="line 2: a value is not a number"):
        KeyedVectors.load_word2vec_format(tmp_path / "nan.txt")
    text = KeyedVectors(KEYS, vectors).save_word2vec_format(tmp_path / "t.txt")
    with pytest.raises(InputError, match=r"looks like the word2vec text format.*binary=False"):
        KeyedVectors.load_word2vec_format(text, binary=True)
    binary = KeyedVectors(KEYS, vectors).save_word2vec_format(tmp_path / "b.bin", binary=True)
    with pytest.raises(InputError, match="pass binary=True"):
        KeyedVectors.load_word2vec_format(binary)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(binary.read_bytes()[:-7])
    with pytest.raises(InputError, match="announces 6 vectors but holds 5"):
        KeyedVectors.load_word2vec_format(cut, binary=True)
    with pytest.raises(InputError, match="is not a file"):
        KeyedVectors.load_word2vec_format(tmp_path / "missing.txt")


def test_cli_nodes_write_word2vec_files(tmp_path):
    import pyarrow.parquet as pq
    import typer
    from typer.testing import CliRunner

    from diffembed.cli.embed import embed_app

    app = typer.Typer()
    app.add_typer(embed_app, name="embed")
    edges = [(i, j) for i in range(8) for j in range(i + 1, 8) if (i < 4) == (j < 4)] + [(3, 4)]
    (tmp_path / "e.csv").write_text("source,target\n" + "".join(f"n{i},n{j}\n" for i, j in edges))
    runner = CliRunner()
    for fmt, name in (("word2vec", "vectors.txt"), ("word2vec-binary", "vectors.bin")):
        out = tmp_path / fmt
        result = runner.invoke(app, ["embed", "nodes", str(tmp_path / "e.csv"), "-o", str(out),
                                     "--dim", "2", "--vectors-format", fmt, "--no-report"])
        assert result.exit_code == 0, result.output
        kv = KeyedVectors.load_word2vec_format(out / name, binary=fmt.endswith("binary"))
        table = pq.read_table(out / "vectors.parquet").to_pandas()
        assert kv.keys == table["id"].tolist()
        assert sorted(kv.keys) == [f"n{i}" for i in range(8)]
        np.testing.assert_allclose(kv.vectors, table[["v1", "v2"]].to_numpy(), rtol=1e-6)
    result = runner.invoke(app, ["embed", "nodes", str(tmp_path / "e.csv"), "-o",
                                 str(tmp_path / "bad"), "--vectors-format", "glove"])
    assert result.exit_code == 2
    assert "'glove' is not one of" in result.output


def test_cli_sentences_read_binary_vectors(tmp_path):
    import typer
    from typer.testing import CliRunner

    from diffembed.cli.embed import embed_app

    app = typer.Typer()
    app.add_typer(embed_app, name="embed")
    rng = np.random.default_rng(0)
    words = ["cat", "dog", "bank", "loan"]
    WordVectors(words, rng.normal(size=(4, 3))).save_word2vec_format(
        tmp_path / "w.bin", binary=True)
    (tmp_path / "s.txt").write_text("cat dog\nbank loan\ncat loan\n")
    out = tmp_path / "sent"
    result = CliRunner().invoke(app, ["embed", "sentences", str(tmp_path / "w.bin"),
                                      str(tmp_path / "s.txt"), "-o", str(out), "--how", "mean",
                                      "--no-report"])
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    assert pq.read_table(out / "vectors.parquet").num_rows == 3
