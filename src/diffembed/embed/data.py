"""Offline text, graphs and evaluation sets for the embedding recipes (nothing is downloaded).

The data comes from packages, fetched once at set-up time by ``scripts/fetch_data.sh``
(``apt-get download`` + ``dpkg-deb -x`` of Debian's ``dict-gcide``, ``wordnet-base``,
``dict-foldoc``, ``dict-jargon``, ``dict-devil`` and ``fortunes``; the WS353, SimLex-999 and
Google-analogy files and the Lee corpus from the gensim wheel), or installed system-wide with
``apt-get install``. Files are looked for, in order, under ``data_dir``, ``$DIFFEMBED_DATA``,
``./data`` and ``/`` (Debian's own install); evaluation sets also inside an installed gensim.

>>> from diffembed.embed import data
>>> segments = data.debian_corpus()          # doctest: +SKIP
>>> A, labels, names = data.wordnet_graph()  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError

__all__ = [
    "EVALUATION_FILES",
    "debian_corpus",
    "dictd_segments",
    "find_data_file",
    "fortune_segments",
    "load_analogies",
    "load_word_pairs",
    "wordnet_gloss_segments",
    "wordnet_graph",
]

#: Short names of the evaluation sets → file name inside gensim's ``test/test_data``.
EVALUATION_FILES = {
    "ws353": "wordsim353.tsv",
    "simlex": "simlex999.txt",
    "google": "questions-words.txt",
    "lee": "lee_background.cor",
}

FETCH_HINT = (
    "Fetch it once with `bash scripts/fetch_data.sh` (from a diffembed checkout; it writes "
    "./data), point $DIFFEMBED_DATA or data_dir= at a folder holding it, or install it "
    "system-wide: `apt-get install dict-gcide wordnet-base` / `pip install gensim`."
)

_BRACKETS = re.compile(r"\[[^\]]*\]")
_CITATION = re.compile(r"--\s*[A-Z][\w.&' ]*?\.(?=\s|$)")
_B64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def _roots(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get("DIFFEMBED_DATA"):
        roots.append(Path(os.environ["DIFFEMBED_DATA"]))
    roots.append(Path("data"))
    return roots


def find_data_file(
    relative: str, *, data_dir: str | os.PathLike[str] | None = None, required: bool = True
) -> Path | None:
    """Locate a data file by its path relative to a data root.

    Debian files are given as installed (``usr/share/dictd/gcide.dict.dz``) and are looked
    for under ``<root>/debian/`` and ``<root>/`` of every root, then under ``/``. Evaluation
    files are given by their name in gensim's test data (``wordsim353.tsv``) and looked for
    under ``<root>/gensim/``, ``<root>/``, then in an installed gensim package.

    Raises
    ------
    InputError
        When ``required`` and the file is nowhere; the message says how to fetch it.
    """
    candidates: list[Path] = []
    for root in _roots(data_dir):
        if relative.startswith("usr/"):
            candidates += [root / "debian" / relative, root / relative]
        else:
            candidates += [root / "gensim" / relative, root / relative]
    if relative.startswith("usr/"):
        candidates.append(Path("/") / relative)
    else:
        import importlib.util

        spec = importlib.util.find_spec("gensim")
        if spec is not None and spec.origin:
            candidates.append(Path(spec.origin).parent / "test" / "test_data" / relative)
    for path in candidates:
        if path.exists():
            return path
    if not required:
        return None
    looked = ", ".join(str(p) for p in candidates[:6])
    msg = f"The data file {relative} was not found (looked in {looked}). {FETCH_HINT}"
    raise InputError(msg)


# ------------------------------------------------------------------------------- text
def clean_dictionary_text(text: str) -> str:
    """Drop dictionary apparatus: ``[bracketed]`` notes, ``--Author.`` citations, braces."""
    text = _BRACKETS.sub(" ", text)
    text = _CITATION.sub(" ", text)
    return text.replace("{", " ").replace("}", " ")


def _b64(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 64 + _B64[ch]
    return value


def dictd_segments(path: str | os.PathLike[str]) -> Iterator[str]:
    """Definition text of a dictd database (``NAME.dict.dz`` beside ``NAME.index``).

    Every entry is read once (entries are located through the index; ``00-database-*``
    pseudo-entries are skipped). Headword lines (text starting in column 0: headword,
    pronunciation, part of speech) are dropped; the indented body is cut into one segment per
    blank-line-separated block and cleaned with :func:`clean_dictionary_text`.
    """
    path = Path(path)
    index = path.with_name(path.name.replace(".dict.dz", ".index"))
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    spans: set[tuple[int, int]] = set()
    with open(index, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and not parts[0].startswith("00"):
                spans.add((_b64(parts[1]), _b64(parts[2])))
    for offset, length in sorted(spans):
        block: list[str] = []
        text = raw[offset : offset + length].decode("utf-8", errors="replace")
        for line in text.split("\n"):
            body = line.strip()
            if line[:1].strip() or not body:  # a headword line or a blank line ends a block
                if block:
                    yield clean_dictionary_text(" ".join(block))
                    block = []
                continue
            block.append(body)
        if block:
            yield clean_dictionary_text(" ".join(block))


def wordnet_gloss_segments(directory: str | os.PathLike[str]) -> Iterator[str]:
    """The gloss (definition and examples) of every WordNet synset, one segment each."""
    directory = Path(directory)
    for pos in ("noun", "verb", "adj", "adv"):
        with open(directory / f"data.{pos}", encoding="latin-1") as handle:
            for line in handle:
                if line.startswith("  "):  # licence header
                    continue
                bar = line.find("| ")
                if bar >= 0:
                    yield line[bar + 2 :]


def fortune_segments(directory: str | os.PathLike[str]) -> Iterator[str]:
    """Every quotation of the ``fortunes`` package (``%``-separated), one segment each."""
    for path in sorted(Path(directory).iterdir()):
        if path.suffix in (".dat", ".u8") or path.is_symlink() or not path.is_file():
            continue
        yield from path.read_text(encoding="utf-8", errors="replace").split("\n%\n")


def debian_corpus(
    *,
    sources: tuple[str, ...] = ("gcide", "wordnet", "foldoc", "jargon", "devil", "fortunes", "lee"),
    data_dir: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Stream the offline English corpus: dictionary definitions, glosses and quotations.

    With every source present this is about 6.8M clean tokens in 420k segments: GCIDE
    (Webster 1913 + WordNet 1.5 definitions, 3.9M tokens), WordNet 3.0 glosses (1.5M), FOLDOC
    (0.7M), the Jargon File (0.2M), the Devil's Dictionary, fortunes (0.4M) and gensim's Lee
    news corpus (60k). Sources that are not present are skipped; ``"gcide"`` is required.

    Parameters
    ----------
    sources
        Which sources to read, in order.
    data_dir
        Extra folder to look in first (see :func:`find_data_file`).

    Yields
    ------
    str
        One segment (a definition block, a gloss, a quotation, a document) of raw text, for
        :func:`diffembed.embed.word_vectors` to tokenise.
    """
    known = ("gcide", "wordnet", "foldoc", "jargon", "devil", "fortunes", "lee")
    unknown = [s for s in sources if s not in known]
    if unknown:
        msg = f"Unknown corpus source(s) {unknown}; choose among {', '.join(known)}."
        raise InputError(msg)
    for source in sources:
        required = source == "gcide"
        if source in ("gcide", "foldoc", "jargon", "devil"):
            path = find_data_file(
                f"usr/share/dictd/{source}.dict.dz", data_dir=data_dir, required=required
            )
            if path is not None:
                yield from dictd_segments(path)
        elif source == "wordnet":
            path = find_data_file("usr/share/wordnet/data.noun", data_dir=data_dir, required=False)
            if path is not None:
                yield from wordnet_gloss_segments(path.parent)
        elif source == "fortunes":
            path = find_data_file("usr/share/games/fortunes", data_dir=data_dir, required=False)
            if path is not None:
                yield from fortune_segments(path)
        else:
            path = find_data_file("lee_background.cor", data_dir=data_dir, required=False)
            if path is not None:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    yield from handle


# ------------------------------------------------------------------------- evaluation sets
def _evaluation_path(name: str, data_dir: str | os.PathLike[str] | None) -> Path:
    if Path(name).suffix and Path(name).exists():
        return Path(name)
    if name not in EVALUATION_FILES:
        msg = (
            f"Unknown evaluation set {name!r}; give one of {', '.join(EVALUATION_FILES)} or the "
            "path of a file."
        )
        raise InputError(msg)
    found = find_data_file(EVALUATION_FILES[name], data_dir=data_dir)
    assert found is not None
    return found


def load_word_pairs(
    name: str = "ws353", *, data_dir: str | os.PathLike[str] | None = None
) -> list[tuple[str, str, float]]:
    """Word pairs with a human similarity score: ``"ws353"``, ``"simlex"`` or a TSV path.

    Lines starting with ``#`` are skipped; words are lower-cased.
    """
    path = _evaluation_path(name, data_dir)
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                pairs.append((fields[0].lower(), fields[1].lower(), float(fields[2])))
            except (IndexError, ValueError) as exc:
                msg = f"{path}, line {number}: expected 'word<TAB>word<TAB>score' ({exc})."
                raise InputError(msg) from exc
    return pairs


def load_analogies(
    name: str = "google",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    lower: bool = True,
) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Analogy questions by section (``: name`` header lines), words lower-cased if ``lower``.

    Lines that are not four words are skipped, as gensim does.
    """
    path = _evaluation_path(name, data_dir)
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
            elif line.strip():
                words = (line.lower() if lower else line).split()
                if len(words) == 4 and sections:
                    sections[-1][1].append((words[0], words[1], words[2], words[3]))
    return sections


# ------------------------------------------------------------------------------ graphs
def wordnet_graph(
    pos: str = "n", *, data_dir: str | os.PathLike[str] | None = None
) -> tuple[sp.csr_matrix, np.ndarray, list[str]]:
    """The WordNet 3.0 synset graph with lexicographer-file labels.

    Nodes are the synsets of the parts of speech in ``pos`` (``"n"`` nouns: 82,115 synsets
    and 26 classes ``noun.animal``, ``noun.artifact``, …; ``"nvar"`` all), edges every pointer
    between two of them (hypernymy, meronymy, …), made undirected and unweighted.

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix
        Symmetric 0/1 adjacency, no self-loops.
    labels : ndarray of str
        Lexicographer file of every synset, e.g. ``"noun.animal"``.
    names : list of str
        Synset ids ``"<offset>-<pos>"``.
    """
    files = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
    bad = [p for p in pos if p not in files]
    if bad or not pos:
        msg = f"pos={pos!r} is not valid; use letters among n, v, a, r (e.g. 'n' or 'nv')."
        raise InputError(msg)
    noun = find_data_file("usr/share/wordnet/data.noun", data_dir=data_dir)
    assert noun is not None
    directory = noun.parent
    lexnames = _lexnames(directory)
    node: dict[tuple[str, str], int] = {}
    labels: list[str] = []
    pointers: list[tuple[tuple[str, str], tuple[str, str]]] = []
    for p in pos:
        with open(directory / f"data.{files[p]}", encoding="latin-1") as handle:
            for line in handle:
                if line.startswith("  "):
                    continue
                fields = line.split(" | ")[0].split()
                key = (fields[0], "a" if fields[2] == "s" else fields[2])
                node[key] = len(node)
                labels.append(lexnames.get(int(fields[1]), fields[1]))
                start = 4 + 2 * int(fields[3], 16)
                for j in range(int(fields[start])):
                    _, offset, target_pos, _ = fields[start + 1 + 4 * j : start + 5 + 4 * j]
                    pointers.append((key, (offset, "a" if target_pos == "s" else target_pos)))
    rows = [node[a] for a, b in pointers if b in node]
    cols = [node[b] for a, b in pointers if b in node]
    n = len(node)
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    A = ((A + A.T) > 0).astype(np.float64).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    names = [f"{offset}-{p}" for offset, p in node]
    return A, np.asarray(labels), names


#: WordNet's lexicographer files (lexnames(5WN)); wordnet-base does not ship the table.
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)


def _lexnames(directory: Path) -> dict[int, str]:
    path = directory / "lexnames"
    if not path.exists():
        return dict(enumerate(LEXNAMES))
    out = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            out[int(fields[0])] = fields[1]
    return out
