"""Google analogies (3CosAdd / 3CosMul): equal to gensim's evaluate_word_analogies, a hand-made
file with known answers, and ``embed words --evaluate`` / ``--vectors-format`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from diffembed.cli.embed import embed_app
from diffembed.embed import KeyedVectors, evaluate
from diffembed.embed.data import find_data_file
from diffembed.exceptions import InputError

QUESTIONS = """: capital-common-countries
Athens Greece Paris France
Paris France Athens Greece
Athens Greece Rome Zebraland
: gram1-adjective-to-adverb
quick quickly slow slowly
slow slowly quick quickly
"""


def planted(keys: list[str], pairs: list[tuple[str, str, int]], dim: int, seed: int):
    """Random vectors where the second word of each pair is the first plus a section offset."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(size=(64, dim)) * 2.0
    index = {k: i for i, k in enumerate(keys)}
    V = rng.normal(size=(len(keys), dim))
    for first, second, section in pairs:
        if first in index and second in index:
            noise = rng.normal(size=dim) * 0.9
            V[index[second]] = V[index[first]] + offsets[section % 64] + noise
    return V


@pytest.fixture(scope="module")
def google_subset(tmp_path_factory):
    """Every 7th question of each section of the real Google file (~2,800 questions)."""
    source = find_data_file("questions-words.txt")
    lines, kept = source.read_text(encoding="utf-8").splitlines(), []
    count = 0
    for line in lines:
        if line.startswith(":"):
            kept.append(line)
            count = 0
        else:
            count += 1
            if count % 7 == 0:
                kept.append(line)
    path = tmp_path_factory.mktemp("analogies") / "questions.txt"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def gensim_kv(keys, V):
    from gensim.models import KeyedVectors as GensimKV

    kv = GensimKV(V.shape[1])
    kv.add_vectors(keys, V.astype(np.float32))
    return kv


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_accuracy_equals_gensim_evaluate_word_analogies(google_subset, case_insensitive):
    pytest.importorskip("gensim")
    section, pairs, words = -1, [], []
    for line in google_subset.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section += 1
            continue
        a, b, c, d = line.split()
        pairs += [(a.lower(), b.lower(), section), (c.lower(), d.lower(), section)]
        words += [a, b, c, d]
    lower = sorted({w.lower() for w in words})
    rng = np.random.default_rng(0)
    rng.shuffle(lower)
    # mixed case: title-case keys, a lower-case variant after its title-case twin, noise words
    keys = [w.title() if i % 5 == 0 else w for i, w in enumerate(lower)]
    keys += [w for i, w in enumerate(lower) if i % 5 == 0][:40] + [f"noise{i}" for i in range(50)]
    V = planted([k.lower() for k in keys], pairs, dim=12, seed=1)
    restrict = len(lower) - 60  # the last words are left out: their questions count as OOV
    ours = evaluate.analogy(
        KeyedVectors(keys, V), str(google_subset), restrict=restrict,
        case_insensitive=case_insensitive,
    )  # fmt: skip
    score, sections = gensim_kv(keys, V).evaluate_word_analogies(
        str(google_subset), restrict_vocab=restrict, case_insensitive=case_insensitive
    )
    total = sections[-1]
    assert ours["accuracy"] == pytest.approx(score, abs=1e-12)
    assert ours["n_correct"] == len(total["correct"])
    assert ours["n_covered"] == len(total["correct"]) + len(total["incorrect"])
    assert ours["n_total"] == sum(1 for line in google_subset.open() if not line.startswith(":"))
    assert ours["n_oov"] == ours["n_total"] - ours["n_covered"]
    assert 0.05 < score < 0.95  # planted structure: neither all wrong nor all right
    assert ours["n_oov"] > 100  # restrict matters
    got = {s["section"]: (s["n_correct"], s["n_covered"]) for s in ours["sections"]}
    expected = {
        s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"]))
        for s in sections[:-1]
    }
    assert got == expected


def test_hand_made_file_scores_known_answers(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(QUESTIONS, encoding="utf-8")
    # capitals: country = city + (0, 0, 1); adverbs: adverb = adjective + (0, 0, 0, 1);
    # 'slowly' is misplaced, so "quick quickly slow ?" finds 'slowish' instead
    keys = ["Athens", "greece", "paris", "france", "rome", "quick", "quickly", "slow", "slowly",
            "slowish"]  # fmt: skip
    V = np.array([
        [1, 0, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0.5, 0.5, 0, 0, 0],
        [0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, -1], [0, 0.6, 0, 0.5, -1],
        [0, 0, 0, 1, -1],
    ], dtype=float)  # fmt: skip
    kv = KeyedVectors(keys, V)
    result = evaluate.analogy(kv, str(path))
    assert result["n_total"] == 5
    assert result["n_oov"] == 1  # 'zebraland'
    assert result["n_covered"] == 4
    assert result["n_correct"] == 3  # 'quick quickly slow slowly' fails
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["semantic"] == pytest.approx(1.0)
    assert result["syntactic"] == pytest.approx(0.5)
    rows = [(s["section"], s["n_correct"], s["n_covered"], s["n_oov"]) for s in result["sections"]]
    assert rows == [("capital-common-countries", 2, 2, 1), ("gram1-adjective-to-adverb", 1, 2, 0)]
    assert result["method"] == "add"
    mul = evaluate.analogy(kv, str(path), method="mul")
    assert mul["method"] == "mul"
    assert mul["n_covered"] == 4
    # case-sensitive: 'Greece' / 'Paris' / 'France' are not keys, so only the adverbs count
    strict = evaluate.analogy(kv, str(path), case_insensitive=False)
    assert (strict["n_covered"], strict["n_correct"]) == (2, 1)
    # restrict to the first 3 words: every question has a word outside
    tiny = evaluate.analogy(kv, str(path), restrict=3)
    assert (tiny["n_covered"], tiny["n_oov"]) == (0, 5)
    assert np.isnan(tiny["accuracy"])
    with pytest.raises(InputError, match=r"restrict=0 .* at least 1"):
        evaluate.analogy(kv, str(path), restrict=0)
    with pytest.raises(InputError, match="method='cos'"):
        evaluate.analogy(kv, str(path), method="cos")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- CLI
app = typer.Typer()
app.add_typer(embed_app, name="embed")
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, ["embed", *[str(a) for a in args]])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("words_cli")
    rng = np.random.default_rng(0)
    animals, money = ["cat", "dog", "horse", "cow"], ["bank", "loan", "cash", "stock"]
    lines = [" ".join(rng.choice(animals if i % 2 else money, 7)) for i in range(200)]
    (d / "corpus.txt").write_text("\n".join(lines) + "\n")
    data = d / "data" / "gensim"
    data.mkdir(parents=True)
    (data / "questions-words.txt").write_text(
        ": family\ncat dog bank loan\ncat dog cow horse\nking queen man woman\n"
        ": gram2-opposite\ncash stock bank loan\n"
    )
    return d


def test_words_evaluate_scores_analogies_in_manifest_summary_and_report(
    corpus, tmp_path, monkeypatch
):
    monkeypatch.setenv("DIFFEMBED_DATA", str(corpus / "data"))
    out = tmp_path / "w"
    result = invoke("words", corpus / "corpus.txt", "-o", out, "--dim", 3, "--window", 2,
                    "--min-count", 1, "--evaluate")  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    google = m["evaluation"]["google"]
    assert (google["n_total"], google["n_covered"], google["n_oov"]) == (4, 3, 1)
    expected = evaluate.analogy(
        KeyedVectors.load_word2vec_format(out / "vectors.txt"), "google",
        data_dir=corpus / "data",
    )  # fmt: skip
    assert google["n_correct"] == expected["n_correct"]
    assert [s["section"] for s in google["sections"]] == ["family", "gram2-opposite"]
    text = " ".join(result.output.split())
    assert f"google analogies (3CosAdd): {expected['accuracy']:.3f} on 3 of 4 questions" in text
    assert "1 skipped with a word outside the vocabulary" in text
    page = (out / "report.html").read_text()
    assert f"3CosAdd accuracy {expected['accuracy']:.3f}, 3 of 4 questions, 1 OOV" in page


def test_words_help_says_what_evaluate_scores():
    result = runner.invoke(app, ["embed", "words", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    for phrase in ("WS353", "SimLex-999", "Spearman", "Google analogies", "3CosAdd", "npy", "none"):
        assert phrase in text, phrase


@pytest.mark.parametrize(
    ("fmt", "files"),
    [
        ("word2vec", {"vectors.parquet", "vectors.txt"}),
        ("word2vec-binary", {"vectors.parquet", "vectors.bin"}),
        ("parquet", {"vectors.parquet"}),
        ("npy", {"vectors.npy"}),
        ("none", set()),
    ],
)
def test_words_vectors_format_writes_only_the_chosen_files(corpus, tmp_path, fmt, files):
    out = tmp_path / fmt
    result = invoke("words", corpus / "corpus.txt", "-o", out, "--dim", 3, "--window", 2,
                    "--min-count", 1, "--vectors-format", fmt)  # fmt: skip
    assert result.exit_code == 0, result.output
    vector_files = {"vectors.parquet", "vectors.txt", "vectors.bin", "vectors.npy"}
    written = {p.name for p in out.iterdir()}
    assert written & vector_files == files
    assert {"vocabulary.csv", "manifest.json", "report.html"} <= written
    m = json.loads((out / "manifest.json").read_text())
    assert m["parameters"]["vectors_format"] == fmt
    words = [line.split(",")[0] for line in (out / "vocabulary.csv").read_text().splitlines()[1:]]
    assert len(words) == 8
    if fmt == "npy":
        V = np.load(out / "vectors.npy")
        assert V.shape == (8, 3)
        assert V.dtype == np.float32
        ref = invoke("words", corpus / "corpus.txt", "-o", tmp_path / "ref", "--dim", 3,
                     "--window", 2, "--min-count", 1)  # fmt: skip
        assert ref.exit_code == 0, ref.output
        kv = KeyedVectors.load_word2vec_format(tmp_path / "ref" / "vectors.txt")
        assert list(kv.keys) == words  # vocabulary.csv rows are the rows of vectors.npy
        np.testing.assert_allclose(V, kv.vectors, atol=1e-5)


def test_words_vectors_format_none_still_evaluates(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFEMBED_DATA", str(corpus / "data"))
    out = tmp_path / "none"
    result = invoke("words", corpus / "corpus.txt", "-o", out, "--dim", 3, "--window", 2,
                    "--min-count", 1, "--vectors-format", "none", "--evaluate")  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["evaluation"]["google"]["n_covered"] == 3
    assert "3CosAdd accuracy" in (out / "report.html").read_text()


def test_words_vectors_format_unknown_exits_2(corpus, tmp_path):
    result = invoke("words", corpus / "corpus.txt", "-o", tmp_path / "x", "--vectors-format", "csv")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    for word in ("'csv'", "npy", "none"):
        assert word in text, word


@pytest.mark.parametrize("method", ["add", "mul"])
def test_scores_equal_a_per_question_brute_force(tmp_path, method):
    """Every candidate scored one by one with the 3CosAdd / 3CosMul formula, question words out."""
    rng = np.random.default_rng(5)
    keys = [f"w{i}" for i in range(40)]
    V = rng.normal(size=(40, 6))
    V[20:30] = V[:10] + rng.normal(size=6) + rng.normal(size=(10, 6)) * 0.6  # w(i+20) ~ w(i)
    lines = [": sec"] + [f"w{i} w{i + 20} w{j} w{j + 20}" for i in range(10) for j in range(10)
                         if i != j]  # fmt: skip
    path = tmp_path / "q.txt"
    path.write_text("\n".join(lines) + "\n")
    U = V / np.linalg.norm(V, axis=1, keepdims=True)
    right = 0
    for line in lines[1:]:
        a, b, c, d = (int(w[1:]) for w in line.split())
        best, best_score = None, -np.inf
        for x in range(40):
            if x in (a, b, c):
                continue
            ca, cb, cc = U[x] @ U[a], U[x] @ U[b], U[x] @ U[c]
            if method == "add":
                score = cb - ca + cc
            else:
                score = ((1 + cb) / 2) * ((1 + cc) / 2) / ((1 + ca) / 2 + 1e-3)
            if score > best_score:
                best, best_score = x, score
        right += best == d
    result = evaluate.analogy(KeyedVectors(keys, V), str(path), method=method, batch_size=7)
    assert result["n_covered"] == 90
    assert result["n_correct"] == right
    assert 5 < right < 85  # neither all wrong nor all right
