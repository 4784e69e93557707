"""Bad files and parameters get a message that says what is wrong and how to fix it (exit 2)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from typer.testing import CliRunner

from diffembed.cli.app import app
from diffembed.exceptions import InputError
from diffembed.io.readers import detect_separator, read_table

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """The output on one line, without the frame typer draws around usage errors."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def table_text() -> str:
    rng = np.random.default_rng(0)
    rows = ["a,b,c"] + [",".join(f"{v:.6f}" for v in rng.normal(size=3)) for _ in range(60)]
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------ .npy
def test_random_bytes_named_npy_is_not_a_numpy_file(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(InputError) as info:
        read_table(path)
    message = str(info.value)
    assert "x.npy is not a NumPy .npy file" in message
    assert "does not start with NumPy's header" in message
    assert "Python objects" not in message


def test_text_named_npy_says_it_looks_like_text(tmp_path, table_text):
    path = tmp_path / "t.npy"
    path.write_text(table_text)
    with pytest.raises(InputError, match=r"looks like text \(a CSV\? name it \.csv\)"):
        read_table(path)


def test_truncated_npy_header_claims_more_than_the_file_holds(tmp_path):
    path = tmp_path / "big.npy"
    header = {"descr": "<f8", "fortran_order": False, "shape": (200_000, 200_000)}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 800)
    assert path.stat().st_size < 1000
    result = invoke("map", path, "-o", tmp_path / "out", "--no-report")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert "big.npy is truncated or damaged" in out
    assert "shape (200000, 200000)" in out
    assert "298 GiB" in out
    assert not (tmp_path / "out").exists()


def test_object_npy_still_says_python_objects(tmp_path):
    path = tmp_path / "o.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="holds Python objects"):
        read_table(path)


# ------------------------------------------------------------------------------- CSV
def test_gzip_named_csv_names_the_fix_and_no_binary_junk(tmp_path, table_text):
    path = tmp_path / "data.csv"
    path.write_bytes(gzip.compress(table_text.encode()))
    result = invoke("map", path, "-o", tmp_path / "out", "--no-report")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert "data.csv is gzip-compressed: decompress it" in out
    assert "name it data.csv.gz" in out
    assert all(ch.isprintable() or ch.isspace() for ch in result.output)


def test_csv_gz_is_read_transparently(tmp_path, table_text):
    plain, packed = tmp_path / "d.csv", tmp_path / "d.csv.gz"
    plain.write_text(table_text)
    packed.write_bytes(gzip.compress(table_text.encode()))
    X, _, _, names = read_table(packed)
    Y, _, _, _ = read_table(plain)
    assert names == ["a", "b", "c"]
    assert X.shape == (60, 3)
    np.testing.assert_array_equal(X, Y)


def test_bom_and_semicolons_are_detected(tmp_path, table_text):
    path = tmp_path / "euro.csv"
    path.write_bytes(b"\xef\xbb\xbf" + table_text.replace(",", ";").encode())
    X, _, _, names = read_table(path)
    assert names == ["a", "b", "c"]  # no BOM in the first name
    assert X.shape == (60, 3)
    assert X[0, 0] == pytest.approx(float(table_text.splitlines()[1].split(",")[0]))


def test_semicolons_with_decimal_commas(tmp_path):
    path = tmp_path / "euro.csv"
    path.write_text("x;y\n1,5;2\n-3,25;4\n")
    X, _, _, names = read_table(path)
    assert names == ["x", "y"]
    np.testing.assert_array_equal(X, [[1.5, 2.0], [-3.25, 4.0]])


def test_detect_separator_prefers_the_suffix_on_a_tie():
    assert detect_separator(b"a;b,c\n", ",") == ","
    assert detect_separator(b"a\tb\tc\n", ",") == "\t"
    assert detect_separator(b"a|b|c\n", ",") == "|"
    assert detect_separator(b"single\n", "\t") == "\t"


def test_sep_option_of_map(tmp_path, table_text):
    path = tmp_path / "pipes.csv"
    path.write_text(table_text.replace(",", ":"))
    out = tmp_path / "out"
    result = invoke("map", path, "-o", out, "--sep", ":", "--no-report", "--n-neighbors", "8",
                    "--n-components", "2", "--explorer-neighbors", "0")
    assert result.exit_code == 0, result.output
    assert (out / "embedding.parquet").is_file()
    bad = invoke("map", path, "-o", tmp_path / "o2", "--sep", "::", "--no-report")
    assert bad.exit_code == 2
    assert "--sep '::' must be one character" in flat(bad.output)


# ------------------------------------------------------------------------------ seeds
@pytest.mark.parametrize(
    "args",
    [
        ["map", "--dataset", "swiss-roll"],
        ["tree", "--dataset", "swiss-roll"],
        ["embed", "pca", "x.csv"],
        ["embed", "words", "x.txt"],
        ["embed", "nodes", "x.csv"],
        ["stability", "debian"],
        ["latents", "decode", "m", "x.csv"],
        ["latents", "train"],
        ["latents", "sample", "model"],
    ],
)
def test_negative_random_state_names_the_range(tmp_path, args):
    result = invoke(*args, "-o", tmp_path / "out", "--random-state", "-1")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert "-1 is not a seed: give an integer from 0 to 4294967295" in out
    assert "bug" not in out


def test_seed_above_the_range(tmp_path):
    result = invoke("map", "--dataset", "swiss-roll", "-o", tmp_path / "o",
                    "--random-state", str(2**32))
    assert result.exit_code == 2
    assert "4294967296 is not a seed" in flat(result.output)


# ------------------------------------------------------------------------------ embed
def test_embed_lsa_given_a_directory(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    result = invoke("embed", "lsa", folder, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"{folder} is a directory; give a text file (one document per line)" in out
    assert "disk is not full" not in out


def test_embed_words_names_the_command_line_option(tmp_path):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes("caf\xe9 and the cat\nthe cat sat\n".encode("latin-1"))
    result = invoke("embed", "words", corpus, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert "pass --encoding-errors replace to read it anyway" in out
    assert "encoding_errors=" not in out
    bad = invoke("embed", "words", corpus, "-o", tmp_path / "o2", "--encoding-errors", "bogus")
    assert bad.exit_code == 2
    assert "--encoding-errors bogus: choose 'strict', 'replace' or 'ignore'" in flat(bad.output)
