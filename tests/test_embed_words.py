"""Word vectors: counts and PPMI against brute force, the SVD factors, keyed access, errors."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from diffembed.embed import KeyedVectors, WordVectors, cooccurrence_counts, pmi_matrix, word_vectors
from diffembed.embed.cooccurrence import default_tokenizer
from diffembed.exceptions import InputError


def toy_corpus(seed: int = 0, n_segments: int = 40) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"w{chr(97 + i)}" for i in range(25)] + ["rareone", "raretwo"]
    p = np.r_[np.linspace(3, 1, 25), 0.05, 0.05]
    p /= p.sum()
    return [" ".join(rng.choice(words, size=rng.integers(1, 14), p=p)) for _ in range(n_segments)]


def brute_counts(segments: list[list[str]], window: int, weight, min_count: int):
    """Double loop over every pair of kept tokens within the window, same segment only."""
    freq = Counter(w for s in segments for w in s)
    vocab = [w for w, c in freq.most_common() if c >= min_count]
    index = {w: i for i, w in enumerate(vocab)}
    C = np.zeros((len(vocab), len(vocab)))
    for seg in segments:
        kept = [index[w] for w in seg if w in index]
        for i in range(len(kept)):
            for j in range(len(kept)):
                d = abs(i - j)
                if 1 <= d <= window:
                    C[kept[i], kept[j]] += weight(d)
    return C, vocab


WEIGHTS = {
    "dynamic": lambda w: lambda d: (w - d + 1) / w,
    "harmonic": lambda w: lambda d: 1.0 / d,
    "uniform": lambda w: lambda d: 1.0,
}


@pytest.mark.parametrize("weighting", ["dynamic", "harmonic", "uniform"])
@pytest.mark.parametrize("window", [1, 3])
def test_counts_equal_brute_force_double_loop(weighting, window):
    corpus = toy_corpus()
    segments = [default_tokenizer(s) for s in corpus]
    expected, vocab = brute_counts(segments, window, WEIGHTS[weighting](window), min_count=2)
    # small chunks: pairs must never be counted across chunk or segment boundaries
    C, voc = cooccurrence_counts(
        corpus, window=window, min_count=2, weighting=weighting, chunk_tokens=17
    )
    assert voc.words == vocab
    np.testing.assert_allclose(C.toarray(), expected, rtol=1e-12)
    assert "rareone" not in voc.words
    # streaming twice, and a one-shot generator, give the same counts and vocabulary
    for source, two_pass in ((corpus, True), ((s for s in corpus), None)):
        C2, voc2 = cooccurrence_counts(
            source,
            window=window,
            min_count=2,
            weighting=weighting,
            chunk_tokens=50,
            two_pass=two_pass,
        )
        assert voc2.words == vocab
        np.testing.assert_allclose(C2.toarray(), expected, rtol=1e-12)
    with pytest.raises(InputError, match="can be read only once"):
        cooccurrence_counts((s for s in corpus), two_pass=True)


def test_counts_from_files_token_lists_and_gzip(tmp_path):
    corpus = toy_corpus(1)
    plain = tmp_path / "c.txt"
    plain.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    zipped = tmp_path / "c.txt.gz"
    with gzip.open(zipped, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(corpus))
    ref, voc = cooccurrence_counts(corpus, window=2, min_count=1)
    for source in (plain, [zipped], [s.split() for s in corpus]):
        C, v = cooccurrence_counts(source, window=2, min_count=1, two_pass=source is plain)
        assert v.words == voc.words
        np.testing.assert_allclose(C.toarray(), ref.toarray())
    assert voc.n_segments == len(corpus)


def brute_pmi(C: np.ndarray, cds: float, shift: float, positive: bool) -> np.ndarray:
    N = C.sum()
    out = np.zeros_like(C)
    pc = C.sum(axis=0) ** cds
    pc = pc / pc.sum()
    for w in range(C.shape[0]):
        for c in range(C.shape[1]):
            if C[w, c] > 0:
                value = np.log((C[w, c] / N) / ((C[w].sum() / N) * pc[c])) - np.log(shift)
                out[w, c] = max(value, 0.0) if positive else value
    return out


@pytest.mark.parametrize(
    ("kind", "cds", "shift"),
    [("ppmi", 0.75, None), ("ppmi", 1.0, None), ("shifted_ppmi", 0.75, None), ("pmi", 0.75, 2.0)],
)
def test_pmi_equals_dense_brute_force(kind, cds, shift):
    C, _ = cooccurrence_counts(toy_corpus(2), window=2, min_count=1)
    dense = C.toarray()
    k = 5.0 if kind == "shifted_ppmi" else (shift or 1.0)
    expected = brute_pmi(dense, cds, k, positive=kind != "pmi")
    got = pmi_matrix(C, kind=kind, cds=cds, shift=shift, dtype=np.float64).toarray()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("eig", [0.0, 0.5, 1.0])
def test_vectors_are_weighted_svd_factors_of_ppmi(eig):
    corpus = toy_corpus(3, n_segments=80)
    wv = word_vectors(corpus, dim=5, window=2, min_count=1, eig=eig)
    C, _ = cooccurrence_counts(corpus, window=2, min_count=1)
    M = brute_pmi(C.toarray(), 0.75, 1.0, positive=True)
    U, s, _ = np.linalg.svd(M)
    np.testing.assert_allclose(wv.singular_values, s[:5], rtol=1e-4)
    for j in range(5):  # same columns up to sign
        expected = U[:, j] * s[j] ** eig
        got = wv.vectors[:, j]
        sign = np.sign(got @ expected)
        np.testing.assert_allclose(got, sign * expected, atol=2e-4 * max(1, s[0] ** eig))
    both = word_vectors(corpus, dim=5, window=2, min_count=1, eig=eig, context="add")
    np.testing.assert_allclose(both.vectors, wv.vectors + wv.context_vectors, atol=1e-5)


def test_topics_are_recovered():
    rng = np.random.default_rng(4)
    animals = ["cat", "dog", "horse", "cow", "sheep"]
    money = ["bank", "loan", "cash", "stock", "bond"]
    corpus = [" ".join(rng.choice(animals if i % 2 else money, 8)) for i in range(400)]
    wv = word_vectors(corpus, dim=4, window=3, min_count=1)
    assert wv.similarity("cat", "dog") > wv.similarity("cat", "bank") + 0.5
    assert {w for w, _ in wv.most_similar("cow", topn=4)} == set(animals) - {"cow"}
    assert wv.info["n_tokens"] == 3200
    assert wv.counts.sum() == 3200
    assert wv.frequencies()["cat"] == pytest.approx(wv.counts[wv.index("cat")] / 3200)


def test_keyed_vectors_queries_and_word2vec_round_trip(tmp_path):
    keys = ["king", "queen", "man", "woman", "apple"]
    V = np.array(
        [[1, 1, 0, 0.1], [1, -1, 0, 0.1], [0, 1, 1, 0], [0, -1, 1, 0], [0, 0, 0, 1]], dtype=float
    )
    kv = WordVectors(keys, V, counts=np.array([5, 4, 3, 2, 1]))
    np.testing.assert_array_equal(kv["queen"], V[1])
    assert kv[["man", "woman"]].shape == (2, 4)
    assert kv.analogy("man", "king", "woman")[0][0] == "queen"
    assert kv.analogy("man", "king", "woman", method="mul")[0][0] == "queen"
    assert kv.similarity("king", "queen") == pytest.approx(kv.similarity("queen", "king"))
    assert all(w != "king" for w, _ in kv.most_similar("king"))
    assert kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    with pytest.raises(KeyError, match="did you mean 'king'"):
        kv["King"]
    path = kv.save_word2vec_format(tmp_path / "v.txt")
    lines = path.read_text().splitlines()
    assert lines[0] == "5 4"
    assert lines[1].split()[0] == "king"
    back = KeyedVectors.load_word2vec_format(path)
    assert back.keys == keys
    np.testing.assert_allclose(back.vectors, V, rtol=1e-6)
    with pytest.raises(InputError, match="whitespace"):
        KeyedVectors(["a b", "c"], np.eye(2)).save_word2vec_format(tmp_path / "w.txt")
    with pytest.raises(InputError, match="more than once"):
        KeyedVectors(["a", "a"], np.eye(2))


def test_bad_corpora_raise_clear_errors(tmp_path):
    with pytest.raises(InputError, match="corpus is empty"):
        word_vectors(["", "   ", "123 456"], dim=2, min_count=1)
    with pytest.raises(InputError, match=r"min_count=50.*Lower min_count"):
        word_vectors(toy_corpus(), dim=2, min_count=50)
    with pytest.raises(InputError, match=r"dim=40 must be smaller than the number of vocabulary"):
        word_vectors(toy_corpus(), dim=40, min_count=1)
    with pytest.raises(InputError, match="is not a file"):
        word_vectors(tmp_path / "missing.txt", dim=2)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 3)
    with pytest.raises(InputError, match=r"not valid UTF-8.*encoding_errors='replace'"):
        word_vectors(latin, dim=1, min_count=1)
    wv = word_vectors(latin, dim=1, min_count=1, encoding_errors="replace", window=1)
    assert "au" in wv
    with pytest.raises(InputError, match="weighting="):
        word_vectors(toy_corpus(), dim=2, min_count=1, weighting="gaussian")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="bytes"):
        word_vectors(b"some bytes", dim=2)
    with pytest.raises(InputError, match="list of int"):
        word_vectors([[1, 2, 3]], dim=2)


def test_deterministic_given_the_seed():
    a = word_vectors(toy_corpus(5, 60), dim=4, window=2, min_count=1, random_state=3)
    b = word_vectors(toy_corpus(5, 60), dim=4, window=2, min_count=1, random_state=3)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert isinstance(Path(__file__), Path)


def _random_counts(seed: int = 0, n: int = 400, nnz: int = 40_000) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, n, nnz)
    vals = rng.integers(1, 50, nnz) * 0.2  # dynamic-window weights are multiples of 1/window
    keep = (rows != 5) & (cols != 7)  # an empty row and an empty column
    return sp.coo_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n, n)).tocsr()


@pytest.mark.parametrize("kind", ["ppmi", "pmi"])
def test_pmi_in_place_on_float32_counts_matches_the_float64_copy(kind):
    C = _random_counts()
    expected = pmi_matrix(C, kind=kind, dtype=np.float64)
    C32 = C.astype(np.float32)
    untouched = pmi_matrix(C32, kind=kind, copy=True)
    assert C32.nnz == C.nnz  # copy=True leaves the input as it was
    got = pmi_matrix(C32, kind=kind, copy=False)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.toarray(), expected.toarray(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got.toarray(), untouched.toarray())
    assert C32.nnz == 0  # consumed: emptied rather than left aliasing the result
    assert (got.toarray() != 0).sum() == got.nnz  # no explicit zeros stored


def test_pmi_in_place_allocates_no_second_matrix(monkeypatch):
    import tracemalloc

    from diffembed.embed import pmi

    monkeypatch.setattr(pmi, "_BLOCK_NNZ", 2_000)
    C = _random_counts(1, n=2_000, nnz=400_000).astype(np.float32)
    size = C.data.nbytes + C.indices.nbytes

    def peak(copy: bool) -> int:
        counts = C.copy()
        tracemalloc.start()
        try:
            pmi.pmi_matrix(counts, copy=copy)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(copy=False) < 0.25 * size  # block temporaries only
    assert peak(copy=True) > 0.9 * size  # negative control: a new matrix of the same size


def test_float32_counts_equal_float64_counts():
    corpus = toy_corpus(6, n_segments=300)
    C64, v64 = cooccurrence_counts(corpus, window=3, min_count=1, chunk_tokens=100)
    C32, v32 = cooccurrence_counts(
        corpus, window=3, min_count=1, chunk_tokens=100, dtype=np.float32
    )
    assert v32.words == v64.words
    assert C32.dtype == np.float32
    np.testing.assert_allclose(C32.toarray(), C64.toarray(), rtol=1e-6)
    assert C64.dtype == np.float64


def test_weighted_factors_in_place_equals_copy():
    from diffembed.embed._factorize import weighted_factors

    rng = np.random.default_rng(0)
    U, s, Vt = rng.standard_normal((6, 3)), np.array([3.0, 2.0, 0.5]), rng.standard_normal((3, 5))
    W, C = weighted_factors(U, s, Vt, 0.5)
    W2, C2 = weighted_factors(U.copy(), s, Vt.copy(), 0.5, copy=False)
    np.testing.assert_allclose(W2, W)
    np.testing.assert_allclose(C2, C)
    np.testing.assert_allclose(W, U * np.sqrt(s))
