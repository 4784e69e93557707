"""The report of the ``diffembed embed …`` outputs: an embedding explorer and figures.

The page is built from ``manifest.json`` (its ``figures`` section: PCA's spectrum and
reconstruction error against k, the singular values of the SVD-based recipes, drawn as inline
SVG) and, when the directory has it, ``vectors.parquet``: the words, documents, nodes or rows
become an embedding explorer (:func:`~.explorer.explorer_section`): a 2-D PCA of the vectors
(PCA's own components for ``embed pca``), labels searchable (words and nodes by their id,
documents by their text, read back from the input file when its SHA-256 still matches the
manifest), the nearest neighbours of each point in the vector space (cosine; Euclidean for
PCA), box/lasso selection to a table and a CSV. Every string is escaped or travels as JSON
data; a hash-based Content-Security-Policy lets only the page's own scripts run.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .explorer import ExplorerSection, explorer_section, static_text

__all__ = [
    "MAX_EXPLORER_POINTS",
    "build_embed_report_html",
    "embed_explorer",
    "line_chart_svg",
    "read_embed_points",
    "write_embed_report",
]

#: Above this many vectors the explorer draws a stated, seeded sample.
MAX_EXPLORER_POINTS = 200_000
#: Neighbours per point listed by the explorer.
EXPLORER_NEIGHBOURS = 10
#: Principal components of the vectors offered as explorer axes.
MAX_AXES = 10
_VECTOR = re.compile(r"^(v|pc)(\d+)$")
_TEXT_INPUT = {"lsa": 0, "sentences": 1, "encode": 0}  # recipe -> input that holds the texts

_W, _H, _PAD = 560, 300, 56


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) if v is not None and math.isfinite(float(v)) else math.nan for v in values]


def line_chart_svg(
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    bars: str | None = None,
) -> str:
    """An SVG chart of one or more series against ``x`` (``bars`` names a series drawn as bars).

    Parameters
    ----------
    x
        Horizontal positions.
    series
        Name → values, same length as ``x``; NaN / None values are skipped.
    title, x_label, y_label
        Texts (escaped).
    bars
        The series to draw as bars instead of a line.
    """
    xs = _finite(x)
    data = {k: _finite(v) for k, v in series.items()}
    ys = [v for vals in data.values() for v in vals if not math.isnan(v)]
    if not xs or not ys:
        return f"<p>{html.escape(title)}: no data.</p>"
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(v: float) -> float:
        return _PAD + (v - x0) / (x1 - x0) * (_W - 1.5 * _PAD)

    def py(v: float) -> float:
        return _H - _PAD + (y0 - v) / (y1 - y0) * (_H - 1.6 * _PAD)

    colors = ["#2f6db5", "#d0792b", "#3a9b5c", "#9b3a8c"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="12">',
        f'<text x="{_W / 2}" y="18" text-anchor="middle" font-size="14">'
        f"{html.escape(title)}</text>",
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD / 2}" y2="{_H - _PAD}" stroke="#555"/>',
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_PAD}" y2="{_PAD * 0.6}" stroke="#555"/>',
        f'<text x="{_W / 2}" y="{_H - 12}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="14" y="{_H / 2}" text-anchor="middle" transform="rotate(-90 14 {_H / 2})">'
        f"{html.escape(y_label)}</text>",
    ]
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        parts.append(f'<text x="{_PAD - 4}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    for frac in (0.0, 0.5, 1.0):
        xv = x0 + frac * (x1 - x0)
        parts.append(
            f'<text x="{px(xv):.1f}" y="{_H - _PAD + 16}" text-anchor="middle">{xv:.3g}</text>'
        )
    width = max(1.0, (_W - 1.5 * _PAD) / max(len(xs), 1) * 0.7)
    legend_y = _PAD * 0.6
    for i, (name, vals) in enumerate(data.items()):
        color = colors[i % len(colors)]
        pts = [(px(a), py(b)) for a, b in zip(xs, vals, strict=False) if not math.isnan(b)]
        if name == bars:
            for a, b in pts:
                parts.append(
                    f'<rect x="{a - width / 2:.1f}" y="{b:.1f}" width="{width:.1f}" '
                    f'height="{max(py(y0) - b, 0):.1f}" fill="{color}" opacity="0.75"/>'
                )
        else:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{_W - _PAD / 2}" y="{legend_y + 14 * i}" text-anchor="end" '
            f'fill="{color}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _figures(manifest: dict[str, Any]) -> list[str]:
    figs = manifest.get("figures") or {}
    out = []
    spec = figs.get("pca_spectrum")
    if spec:
        out.append(
            line_chart_svg(
                spec["component"],
                {
                    "explained variance ratio": spec["explained_variance_ratio"],
                    "cumulative": spec["cumulative_explained_variance_ratio"],
                },
                title="PCA spectrum",
                x_label="component",
                y_label="share of variance",
                bars="explained variance ratio",
            )
        )
        out.append(
            line_chart_svg(
                spec["k"],
                {"‖X − X_k‖²_F / ‖X‖²_F": spec["relative_reconstruction_error"]},
                title="Reconstruction error against k (sum of σᵢ² for i > k)",
                x_label="k (components kept)",
                y_label="relative squared error",
            )
        )
    sv = figs.get("singular_values")
    if sv:
        out.append(
            line_chart_svg(
                list(range(1, len(sv) + 1)),
                {"singular value": sv},
                title="Singular values of the factorised matrix",
                x_label="component",
                y_label="σ",
                bars="singular value",
            )
        )
    return out


# ------------------------------------------------------------------------------ explorer
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _input_texts(manifest: Mapping[str, Any], n: int) -> tuple[list[str] | None, str | None]:
    """The texts of a document recipe, read back from its input; or ``None`` and why not."""
    recipe = str(manifest.get("recipe") or "")
    if recipe not in _TEXT_INPUT:
        return None, None
    inputs = manifest.get("inputs") or []
    try:
        entry = inputs[_TEXT_INPUT[recipe]]
        path = Path(str(entry["path"]))
    except (IndexError, KeyError, TypeError):
        return None, "The input texts are not named in manifest.json: documents show by number."
    why = f"The input {path.name} is "
    if not path.is_file():
        return None, why + "no longer there: documents show by number."
    if entry.get("sha256") and _sha256(path) != entry["sha256"]:
        return None, why + "not the file embedded (its SHA-256 changed): documents show by number."
    column = (manifest.get("parameters") or {}).get("text_column")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".tsv", ".parquet", ".pq")):
            if not column:
                return None, why + "a table whose text column is not recorded: no texts shown."
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            if name.endswith((".parquet", ".pq")):
                table = pq.read_table(path, columns=[column])
            else:
                opts = pacsv.ParseOptions(delimiter="\t" if name.endswith(".tsv") else ",")
                table = pacsv.read_csv(path, parse_options=opts)
            texts = ["" if v is None else str(v) for v in table.column(column).to_pylist()]
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            texts = [ln for ln in lines if ln.strip()]  # as `diffembed embed` reads them
    except (OSError, ValueError, KeyError) as exc:
        return None, f"{why}unreadable ({exc}): documents show by number."
    if len(texts) != n:
        return None, f"{why}{len(texts):,} texts long, not {n:,}: documents show by number."
    return texts, None


def read_embed_points(
    directory: str | Path, manifest: Mapping[str, Any], name: str = "vectors.parquet"
) -> dict[str, Any] | None:
    """What the explorer of an ``embed`` output draws, read from its directory.

    Parameters
    ----------
    directory
        The output directory: ``vectors.parquet`` (without it: ``None``), ``vocabulary.csv``
        (word counts), and the recipe's input file for document texts.
    manifest
        Its ``manifest.json``.
    name
        The table of vectors: ``vectors.parquet``, or ``terms.parquet`` (LSA's term vectors,
        no texts read).

    Returns
    -------
    dict or None
        ``{"ids", "vectors", "vector_names", "columns", "texts", "notices"}``.
    """
    import pyarrow.parquet as pq

    directory = Path(directory)
    path = directory / name
    if not path.is_file():
        return None
    parquet = pq.ParquetFile(path)
    all_names = list(parquet.schema_arrow.names)
    names = [c for c in all_names if _VECTOR.match(c)]
    names.sort(key=lambda c: int(_VECTOR.match(c).group(2)))  # type: ignore[union-attr]
    if not names:
        return None
    # the vector columns one at a time into one float32 matrix (a layout and neighbour lists
    # need no more): reading the whole table first held it twice in float64 (Arrow's buffers,
    # then the stacked copy: 0.5 GB for 49k words x 300)
    n = parquet.metadata.num_rows
    vectors = np.empty((n, len(names)), dtype=np.float32)
    for j, column_name in enumerate(names):
        column = parquet.read(columns=[column_name]).column(0)
        vectors[:, j] = column.to_numpy(zero_copy_only=False)
    table = parquet.read(columns=[c for c in all_names if c not in names])
    ids = np.asarray(table.column("id").to_pylist() if "id" in table.column_names else range(n))
    columns = {
        c: np.asarray(table.column(c).to_pylist(), dtype=object)
        if np.asarray(table.column(c).to_numpy(zero_copy_only=False)).dtype.kind not in "biuf"
        else table.column(c).to_numpy(zero_copy_only=False)
        for c in table.column_names
        if c != "id" and c not in names
    }
    vocab = directory / "vocabulary.csv"
    if vocab.is_file() and "count" not in columns:
        import pyarrow.csv as pacsv

        voc = pacsv.read_csv(vocab, convert_options=pacsv.ConvertOptions(
            column_types={"word": "string"}))  # fmt: skip
        if voc.num_rows == n and voc.column("word").to_pylist() == [str(v) for v in ids]:
            columns["count"] = voc.column("count").to_numpy()
    texts, why = _input_texts(manifest, n) if name == "vectors.parquet" else (None, None)
    return {
        "ids": ids,
        "vectors": vectors,
        "vector_names": names,
        "columns": columns,
        "texts": texts,
        "notices": [why] if why else [],
    }


def _pca_layout(vectors: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` principal components of the finite rows (NaN elsewhere), fixed signs."""
    out = np.full((vectors.shape[0], k), np.nan)
    ok = np.all(np.isfinite(vectors), axis=1)
    X = vectors if ok.all() else vectors[ok]  # no centred copy: (X - m)ᵀ(X - m) = XᵀX - n mmᵀ
    if X.shape[0] < 2:
        return out
    gram = np.zeros((X.shape[1], X.shape[1]))
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], 8192):  # in float64, a block at a time
        block = np.asarray(X[start:start + 8192], dtype=np.float64)
        gram += block.T @ block
        total += block.sum(axis=0)
    mean = total / X.shape[0]
    _, vecs = np.linalg.eigh(gram - X.shape[0] * np.outer(mean, mean))
    top = vecs[:, ::-1][:, :k]
    pcs = np.asarray(X @ top.astype(X.dtype), dtype=np.float64) - mean @ top
    big = np.argmax(np.abs(pcs), axis=0)
    pcs *= np.where(pcs[big, np.arange(pcs.shape[1])] < 0, -1.0, 1.0)
    out[ok, : pcs.shape[1]] = pcs
    return out[:, : pcs.shape[1]]


_SINGULAR = {
    "words": "word", "nodes": "node", "documents": "document", "terms": "term",
    "sentences": "sentence", "texts": "text", "rows": "row", "points": "point",
}  # fmt: skip
#: Page title of each recipe's report: "<title> of <input file>".
_TITLES = {"words": "Word vectors", "lsa": "LSA", "pca": "PCA", "nodes": "Node embedding",
           "sentences": "Sentence vectors", "encode": "Text embedding"}  # fmt: skip


def _variance_shares(vectors: np.ndarray, coords: np.ndarray) -> list[float]:
    """Share of the vectors' total variance along each principal component in ``coords``."""
    ok = np.all(np.isfinite(vectors), axis=1) & np.all(np.isfinite(coords), axis=1)
    total = float(np.var(vectors[ok], axis=0).sum()) if ok.sum() > 1 else 0.0
    if total <= 0:
        return [math.nan] * coords.shape[1]
    return [float(np.var(coords[ok, j])) / total for j in range(coords.shape[1])]


def _percent(share: float) -> str:
    if not math.isfinite(share):
        return "? %"
    return f"{100 * share:.1f}%" if share < 0.1 else f"{100 * share:.0f}%"


def data_name(manifest: Mapping[str, Any]) -> str:
    """The data an ``embed`` output was made from, for titles: its input file's name."""
    paths = [
        str(entry.get("path")) for entry in manifest.get("inputs") or []
        if isinstance(entry, Mapping) and entry.get("path")
    ]  # fmt: skip
    if not paths:
        return "a saved run"
    if str(manifest.get("recipe")) == "sentences":  # the word vectors come first
        paths = paths[-1:]
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return (Path(paths[0]).name or paths[0]) + more


def embed_explorer(
    points: Mapping[str, Any],
    manifest: Mapping[str, Any],
    *,
    max_points: int = MAX_EXPLORER_POINTS,
    what: str | None = None,
    prefix: str = "ex-",
) -> ExplorerSection:
    """The explorer of an ``embed`` output (see :func:`read_embed_points`).

    PCA outputs are drawn on their own components (``pc1``...); the other recipes on a 2-D
    PCA of their vectors (up to :data:`MAX_AXES` components offered). Neighbours: the
    :data:`EXPLORER_NEIGHBOURS` nearest vectors, cosine (Euclidean for PCA).
    """
    recipe = str(manifest.get("recipe") or manifest.get("command") or "")
    vectors = np.asarray(points["vectors"])
    if vectors.dtype not in (np.float32, np.float64):
        vectors = vectors.astype(np.float64)
    names = list(points["vector_names"])
    what = what or {"words": "words", "nodes": "nodes", "lsa": "documents",
                    "sentences": "sentences", "encode": "texts",
                    "pca": "rows"}.get(recipe.split("/")[0], "points")  # fmt: skip
    if recipe == "pca" or names[0].startswith("pc"):
        k = min(len(names), MAX_AXES)
        coords, coord_names, metric = vectors[:, :k], names[:k], "euclidean"
        titles = [f"{n} · principal component {n[2:]} of the input" for n in coord_names]
    else:
        coords = _pca_layout(vectors, min(MAX_AXES, vectors.shape[1]))
        coord_names, metric = [f"PC{j + 1}" for j in range(coords.shape[1])], "cosine"
        share = _variance_shares(vectors, coords)
        titles = [
            f"PC{j + 1} of the {_SINGULAR.get(what, what)} vectors ({_percent(v)} of variance)"
            for j, v in enumerate(share)
        ]
    columns = dict(points["columns"])
    label_col = (manifest.get("parameters") or {}).get("label")
    texts = points.get("texts")
    labels, label_name = None, "label"
    if texts is not None:
        labels, label_name = texts, "text"
    elif label_col and label_col in columns:
        labels, label_name = columns.pop(label_col), str(label_col)
    search = "their text" if texts is not None else "their ids and labels"
    colour = None
    if "count" in columns and labels is None:  # words: by frequency (a log scale, see the page)
        colour = "count"
    elif texts is not None or (labels is None and not columns):  # free text: by a component
        colour = coord_names[min(2, len(coord_names) - 1)]
    seed = (manifest.get("parameters") or {}).get("random_state")
    layout = "their first components" if metric == "euclidean" else "a 2-D PCA of their vectors"
    return explorer_section(
        coords, labels, label_name=label_name, ids=points["ids"], metadata=columns,
        colour_by=colour, axis_titles=titles,
        coord_names=coord_names, neighbours=EXPLORER_NEIGHBOURS, neighbour_space=vectors,
        metric=metric, space="vector", max_points=max_points, notices=points.get("notices", ()),
        prefix=prefix,
        random_state=seed if type(seed) is int and seed >= 0 else 0,
        title=f"Explorer of the {what}",
        intro=f"The {what} on {layout}: search {search}, click one for its "
        f"{EXPLORER_NEIGHBOURS} nearest neighbours "
        f"({metric}, in the full vector space), select with the box or lasso to list and "
        "download rows.",
    )  # fmt: skip


def build_embed_report_html(
    manifest: dict[str, Any], explorer: ExplorerSection | Sequence[ExplorerSection] | None = None
) -> str:
    """The report page of an ``embed`` output.

    Parameters
    ----------
    manifest
        Its ``manifest.json``: title, figures, parameters, evaluation.
    explorer
        The explorer of its vectors (:func:`embed_explorer`), several (distinct prefixes), or
        ``None``.

    Returns
    -------
    str
        A complete HTML document (with plotly.js inline when there is an explorer).
    """
    from .page import page_document

    sections = [explorer] if isinstance(explorer, ExplorerSection) else list(explorer or [])

    params = manifest.get("parameters") or {}
    rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, ensure_ascii=False))}"
        "</td></tr>"
        for k, v in params.items()
    )
    evaluation = manifest.get("evaluation") or {}
    eval_rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>Spearman {v.get('spearman', float('nan')):.3f}, "
        f"{v.get('n_pairs', 0)} pairs, {v.get('n_oov', 0)} OOV</td></tr>"
        if v.get("spearman") is not None
        else f"<tr><th>{html.escape(str(k))} analogies</th><td>"
        f"{'3CosMul' if v.get('method') == 'mul' else '3CosAdd'} accuracy "
        f"{_float(v.get('accuracy')):.3f}, {v.get('n_covered', 0)} of {v.get('n_total', 0)} "
        f"questions, {v.get('n_oov', 0)} OOV</td></tr>"
        for k, v in evaluation.items()
        if isinstance(v, dict) and (v.get("spearman") is not None or "accuracy" in v)
    )
    figures = "\n".join(f"<figure>{svg}</figure>" for svg in _figures(manifest))
    evaluated = f"<h2>Evaluation</h2><table>{eval_rows}</table>" if eval_rows else ""
    main = f"""{"".join(sec.html for sec in sections)}
<section class="card"><h2>Figures</h2>
{figures or "<p>No figures for this recipe.</p>"}</section>
<section class="card"><h2>Parameters</h2><table>{rows}</table>
{evaluated}</section>"""
    recipe = str(manifest.get("recipe") or "").split("/")[0]
    kind, name = _TITLES.get(recipe, "Embedding"), data_name(manifest)
    meta = [f"diffembed {manifest.get('command', 'embed')}".strip()]
    version = manifest.get("diffembed_version")
    meta += [f"version {version}"] if version else []
    meta += [str(manifest["created"])] if manifest.get("created") else []
    return page_document(
        title=f"{kind} · {name}",
        eyebrow="diffembed report",
        heading=f"{kind} of {name}",
        meta=" · ".join(meta),
        main=main,
        scripts=[script for sec in sections for script in sec.scripts],
        css=static_text("report.css") + (sections[0].css if sections else "") + _CSS,
    )


_CSS = """
figure{display:inline-block;margin:0 1em 1em 0}main>section.card{margin-bottom:18px}
"""


def _float(value: Any) -> float:
    """A manifest number (``None``/``"nan"`` for NaN) as a float."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def write_embed_report(directory: str | Path, *, assets: str | None = None) -> Path:
    """Write ``directory/report.html`` from ``manifest.json`` and ``vectors.parquet`` (atomically).

    Parameters
    ----------
    directory
        An ``embed`` output directory (``manifest.json`` required; without
        ``vectors.parquet`` the page has the figures only; LSA's ``terms.parquet`` gets a
        second explorer, of the terms).
    assets
        How the page carries plotly.js: ``"inline"`` (self-contained), ``"shared"`` (one
        ``plotly.min.js`` written beside it) or ``None`` (the current choice, see
        :func:`~diffembed.plotting.page.report_assets`).

    Returns
    -------
    pathlib.Path
    """
    from .page import report_assets, write_page

    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    sections = []
    points = read_embed_points(directory, manifest)
    if points is not None:
        sections.append(embed_explorer(points, manifest))
    terms = read_embed_points(directory, manifest, "terms.parquet")
    if terms is not None:  # LSA: the terms get their own explorer
        sections.append(embed_explorer(terms, manifest, what="terms", prefix="ex2-"))
    with report_assets(assets):
        page = build_embed_report_html(manifest, sections)
        return write_page(page, directory / "report.html")
