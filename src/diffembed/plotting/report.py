"""Self-contained, offline HTML report of a saved run (``diffembed report OUT/``).

Reads ``embedding.parquet``, ``spectrum.csv``, ``manifest.json`` and, when present, the
neighbours saved by ``diffembed map`` (``neighbors.npy``, ``neighbor_distances.npy``); writes
one page with plotly.js inline: the embedding explorer (:mod:`.explorer`), the spectrum, a 3-D
view, the parameters and, where the manifest has them, stability numbers. Every user string is
escaped (markup) or travels as JSON data put into the DOM with ``textContent`` (scripts); a
hash-based Content-Security-Policy lets only the page's own scripts run and load nothing.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import InputError
from .encoding import figure_json, safe_json
from .explorer import check_neighbors, explorer_data, explorer_rows
from .interactive import (
    Coloring,
    embedding_spec,
    make_coloring,
    sample_indices,
    spectrum_figure,
    value_texts,
)
from .page import PageParts, _get, render_page, report_assets, write_page

__all__ = [
    "MAX_POINTS",
    "MAX_POINTS_3D",
    "build_report_html",
    "degenerate_spectrum",
    "read_neighbors",
    "read_spectrum",
    "write_report",
]

#: Above this many embedded points the explorer draws a stated, seeded, stratified sample.
MAX_POINTS = 1_000_000
#: The 3-D view (SVG-free but heavier than the 2-D WebGL scatter) draws at most this many.
MAX_POINTS_3D = 50_000
_DC = re.compile(r"^dc(\d+)$")


# --------------------------------------------------------------------------- reading


def read_spectrum(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``spectrum.csv`` (header ``component,eigenvalue,timescale``).

    Parameters
    ----------
    path
        The CSV file; ``timescale`` may be absent, empty, ``inf`` or ``nan``.

    Returns
    -------
    list of dict
        One ``{"component", "eigenvalue", "timescale"}`` dict of floats per row.
    """
    path = Path(path)

    def num(text: str | None) -> float:
        try:
            return float(text) if text not in (None, "") else math.nan
        except ValueError:
            return math.nan

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or [])
        if not {"component", "eigenvalue"} <= fields:
            msg = f"{path} has columns {sorted(fields)}, not component,eigenvalue,timescale. "
            raise InputError(msg + "Rerun `diffembed map` to rewrite it.")
        keys = ("component", "eigenvalue", "timescale")
        rows = [{key: num(row.get(key)) for key in keys} for row in reader]
    return [row for row in rows if math.isfinite(row["component"])]


def read_neighbors(out_dir: str | Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The neighbours saved by ``diffembed map`` in ``out_dir``, if any.

    Parameters
    ----------
    out_dir
        An output directory; ``neighbors.npy`` (int, ``(n, k)`` row numbers of
        ``embedding.parquet``, -1 for none) and ``neighbor_distances.npy`` are optional.

    Returns
    -------
    neighbors, distances : numpy.ndarray or None
        ``None`` for a missing file; a file that cannot be read raises :class:`InputError`.
    """
    out_dir = Path(out_dir)
    arrays: list[np.ndarray | None] = []
    for name in ("neighbors.npy", "neighbor_distances.npy"):
        path = out_dir / name
        try:
            arrays.append(np.load(path, allow_pickle=False) if path.is_file() else None)
        except (OSError, ValueError) as exc:
            msg = f"Cannot read {path} ({exc}): rerun `diffembed map`, or delete the file."
            raise InputError(msg) from exc
    return arrays[0], arrays[1]


def _read_outputs(out_dir: Path) -> tuple[Any, list[dict[str, float]] | None, dict | None]:
    import pyarrow.parquet as pq

    fix = f": run `diffembed map INPUT --out {out_dir}` first, or pass the directory it wrote."
    emb, man, spec = (out_dir / f for f in ("embedding.parquet", "manifest.json", "spectrum.csv"))
    if not emb.is_file():
        what = "" if out_dir.is_dir() else f" ({out_dir} does not exist)"
        msg = f"{emb} is missing{what}, so there is nothing to report{fix}"
        raise InputError(msg)
    manifest, problem = None, ""
    try:
        table = pq.read_table(emb)
        if man.is_file():
            problem = f"{man} is not a valid JSON object"
            manifest = json.loads(man.read_text(encoding="utf-8"))
            problem = "" if isinstance(manifest, dict) else problem
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these too
        problem = problem or f"Cannot read {emb}"
        msg = f"{problem} ({exc}){fix}"
        raise InputError(msg) from exc
    if problem:
        raise InputError(problem + fix)
    return table, read_spectrum(spec) if spec.is_file() else None, manifest


def _columns(embedding: Any) -> dict[str, np.ndarray]:
    """Columns of a pyarrow Table or a mapping as 1-D numpy arrays (nulls as NaN or None)."""
    if hasattr(embedding, "column_names") and hasattr(embedding, "column"):
        return {str(c): np.asarray(embedding.column(c).to_numpy()) for c in embedding.column_names}
    if isinstance(embedding, Mapping):
        return {str(c): np.asarray(v) for c, v in embedding.items()}
    msg = f"embedding must be a pyarrow Table or a dict of columns, not {type(embedding)}."
    raise InputError(msg)


# --------------------------------------------------------------------------- building


def degenerate_spectrum(
    eigen: Sequence[Mapping[str, float]], manifest: Mapping[str, Any]
) -> tuple[list[int], float, str]:
    """Non-trivial eigenvalues equal to 1 within precision: positions, tolerance and the note.

    The count is the manifest's ``results.degenerate_eigenvalues`` (recorded by ``diffembed
    map``); without it (an older run) the saved eigenvalues are compared with the tolerance.
    On a connected graph such eigenvalues mean the kernel split the data numerically, and
    their coordinates only say which piece a point is in.

    Returns
    -------
    tuple
        ``(positions into eigen, tolerance, note)``; ``([], tol, "")`` for a clean spectrum.
    """
    from ..diffusion_checks import DEGENERATE_TOL

    tol = _get(manifest, "results", "degenerate_tolerance")
    if type(tol) not in (int, float) or not 0 < tol < 1:
        tol = DEGENERATE_TOL
    lam = np.array([r["eigenvalue"] for r in eigen], dtype=np.float64)
    count = _get(manifest, "results", "degenerate_eigenvalues")
    if type(count) is not int or count < 0:
        count = int(np.sum(lam > 1.0 - tol))  # NaN compares False
    count = min(count, lam.size)
    if count == 0:
        return [], float(tol), ""
    top = np.argsort(-np.nan_to_num(lam, nan=-np.inf), kind="stable")[:count]
    marked = sorted(int(i) for i in top)
    names = ", ".join(f"dc{int(eigen[i]['component'])}" for i in marked)
    bandwidth = _get(manifest, "parameters", "bandwidth")
    if bandwidth in ("auto", "adaptive"):
        fix = "rerun with a larger --n-neighbors"
    else:
        fix = "rerun with --bandwidth auto (the self-tuning kernel) or a larger --bandwidth"
    kernel = "the kernel" if bandwidth is None else f"the kernel (bandwidth={bandwidth!r})"
    note = (
        f"{count} non-trivial eigenvalue(s) equal 1 within {tol:g} on a connected graph "
        f"(marked red on the plot): {kernel} splits the data into nearly separate pieces, "
        f"and their coordinates ({names}) only say which piece a point is in. Fix: {fix}."
    )
    return marked, float(tol), note


def _eigenvalues_of(dc_names: Sequence[str], eigen: Sequence[Mapping[str, float]]) -> Any:
    by_component = {int(r["component"]): r["eigenvalue"] for r in eigen}
    lam = [by_component.get(int(name[2:])) for name in dc_names]
    return None if any(v is None or not math.isfinite(v) for v in lam) else lam


def build_report_html(
    embedding: Any,
    spectrum: Sequence[Mapping[str, Any]] | None,
    manifest: Mapping[str, Any] | None,
    *,
    color_by: str | None = None,
    max_points: int = MAX_POINTS,
    source: str | None = None,
    neighbors: np.ndarray | None = None,
    neighbor_distances: np.ndarray | None = None,
) -> str:
    """The report page as one HTML string (pure: reads and writes no file).

    Parameters
    ----------
    embedding
        ``pyarrow.Table`` or mapping of column name to 1-D array: ``id``, ``dc1``..``dcK`` and
        any metadata columns (the label column named by ``manifest["label_column"]``,
        ``cluster``...). Rows with a NaN coordinate are skipped and counted.
    spectrum
        Rows with ``component``, ``eigenvalue`` and ``timescale``, or ``None``. With the
        eigenvalues and ``manifest["parameters"]["t"]`` the explorer switches the diffusion
        time without refitting (``dc · λ^(t' - t)``).
    manifest
        The run's ``manifest.json`` as a dict; any key may be missing.
    color_by
        Initial colouring: a metadata column or a coordinate such as ``"dc3"``. Default: the
        label column, else ``cluster``, else the first metadata column, else ``dc3``. Others
        raise InputError.
    max_points
        Above this many embedded points the explorer draws a seeded random sample (stratified
        by category when the colouring has categories) and the page says so.
    source
        Where the outputs were read from, shown in the input table.
    neighbors, neighbor_distances
        ``(n_rows, k)`` nearest neighbours of every row in the input space (row numbers, -1
        for none) and their distances, as saved by ``diffembed map``; ``None``: the explorer
        shows no neighbours.

    Returns
    -------
    str
        A complete HTML document with plotly.js inline.
    """
    manifest = dict(manifest or {})
    cols = _columns(embedding)
    dc_names = sorted((c for c in cols if _DC.match(c)), key=lambda c: int(c[2:]))
    if not dc_names:
        msg = f"The embedding has no diffusion coordinates (dc1..dcK), only {sorted(cols)}. "
        raise InputError(msg + "Rerun `diffembed map` to rewrite it.")
    n_total, k = len(cols[dc_names[0]]), len(dc_names)
    coords = np.column_stack([cols[c].astype(np.float64) for c in dc_names])
    valid = np.flatnonzero(np.all(np.isfinite(coords), axis=1))
    n_valid = int(valid.size)
    notices: list[str] = []
    if n_valid < n_total:
        notices.append(
            f"{n_total - n_valid:,} of {n_total:,} points were not embedded (NaN coordinates) "
            "and are not shown."
        )
    label = manifest.get("label_column")
    if label is not None and str(label) not in cols:
        notices.append(
            f"The label column '{label}' named in manifest.json is not in the embedding."
        )
    label = (
        str(label)
        if label is not None and str(label) in cols and str(label) not in dc_names
        else None
    )
    cluster = "cluster" if "cluster" in cols and label != "cluster" else None
    others = [c for c in cols if c not in (label, cluster, "id") and c not in dc_names]
    metadata = [c for c in (label, cluster) if c] + others
    choices = metadata + dc_names
    if color_by is not None and color_by not in choices:
        msg = f"color_by={color_by!r} is not a column of the embedding; use one of {choices}."
        raise InputError(msg)
    group = color_by if color_by in metadata else (label or cluster)
    coloring = (
        make_coloring(group, cols[group][valid], force_categorical=group == "cluster")
        if group
        else None
    )

    seed = _get(manifest, "parameters", "random_state")
    seed = seed if type(seed) is int and seed >= 0 else 0
    shown = np.arange(n_valid)
    codes = coloring.values if coloring is not None and coloring.is_categorical else None
    if n_valid > max_points:
        shown = sample_indices(n_valid, max_points, codes, seed)
        how = f"stratified by {group}" if codes is not None else "uniform"
        notices.append(
            f"The explorer shows a random sample of {shown.size:,} of the {n_valid:,} embedded "
            f"points ({how}, seed {seed}); the statistics and the spectrum describe the whole run."
        )
    rows = valid[shown]
    neighbors, neighbor_distances = check_neighbors(neighbors, neighbor_distances, n_total, notices)
    eigen = [
        {key: float(r.get(key, math.nan)) for key in ("component", "eigenvalue", "timescale")}
        for r in spectrum or []
    ]
    eigen = [r for r in eigen if math.isfinite(r["component"])]
    t = _get(manifest, "parameters", "t")
    t = float(t) if type(t) in (int, float) and math.isfinite(t) and t >= 0 else None

    store: dict[str, Any] = {}
    config = {"displaylogo": False, "responsive": True, "showSendToCloud": False, "showLink": False}
    figures: dict[str, str] = {}
    explorer, n_3d = None, 0
    if n_valid:
        page_rows, local = explorer_rows(rows, neighbors)
        data = explorer_data(
            cols, page_rows, rows.size, coords[rows], dc_names, metadata=metadata,
            label=label, color_by=color_by or group, eigenvalues=_eigenvalues_of(dc_names, eigen),
            t=t, neighbors=local,
            distances=None if neighbor_distances is None else neighbor_distances[rows],
            neighbor_info=_get(manifest, "neighbors"),
        )  # fmt: skip
        explorer = safe_json(data)
        if data["compact"]:
            lost = neighbor_distances is not None and data["neighbors"]["dist"] is None
            dropped = " and neighbour distances are left out" if lost else ""
            notices.append(
                f"To keep the page small, the coordinates of the {rows.size:,} drawn points are "
                f"stored to 1/65,535 of their range{dropped}; the saved files keep full precision."
            )
    if n_valid and k >= 3:
        sub = np.arange(rows.size)
        if rows.size > MAX_POINTS_3D:
            sub = sample_indices(
                rows.size, MAX_POINTS_3D, None if codes is None else codes[shown], seed
            )
        n_3d, pick = int(sub.size), rows[sub]
        col3 = None
        if coloring is not None:
            col3 = Coloring(coloring.name, coloring.values[shown][sub], coloring.categories)
        hover = {c: value_texts(cols[c][pick]) for c in (label, cluster) if c}
        spec = embedding_spec(
            coords[pick], dims=3, ids=value_texts(cols["id"][pick] if "id" in cols else pick),
            coloring=col3, hover=hover, coord_names=dc_names,
            active=color_by if color_by in dc_names else None,
        )  # fmt: skip
        figures["fig-3d"] = figure_json(spec, store, config)
    marked, tol, spectrum_note = degenerate_spectrum(eigen, manifest)
    if eigen:
        fig = spectrum_figure(
            [int(r["component"]) for r in eigen],
            [r["eigenvalue"] for r in eigen],
            [r["timescale"] for r in eigen],
            degenerate=marked,
            degenerate_tol=tol,
        )
        figures["fig-spectrum"] = figure_json(fig, store, config)
    elif spectrum is None:
        notices.append("No spectrum.csv was saved with this run, so the spectrum is not shown.")
    if not manifest:
        notices.append("No manifest.json was found: parameters and statistics are not available.")
    n_comp = _get(manifest, "results", "n_connected_components")
    if type(n_comp) is int and n_comp > 1:
        notices.append(
            f"The neighbour graph has {n_comp} connected components: coordinates from different "
            "components are not comparable. Increase n_neighbors to connect them."
        )
    parts = PageParts(
        manifest=manifest,
        counts=(n_total, n_valid, int(shown.size), k),
        eigen=eigen,
        notices=notices,
        figures=figures,
        store=safe_json(store),
        explorer=explorer,
        source=source,
        n_3d=n_3d,
        spectrum_note=spectrum_note,
    )
    return render_page(parts)


def write_report(
    out_dir: str | Path,
    path: str | Path | None = None,
    *,
    color_by: str | None = None,
    max_points: int = MAX_POINTS,
    source: str | None = None,
    assets: str | None = None,
) -> Path:
    """Write the interactive HTML report of a saved run, atomically.

    Parameters
    ----------
    out_dir
        Directory written by ``diffembed map``: ``embedding.parquet`` (required),
        ``spectrum.csv``, ``manifest.json``, ``neighbors.npy`` and ``neighbor_distances.npy``
        (optional; the page says what is missing).
    path
        Where to write the page; default ``out_dir / "report.html"``.
    color_by
        Initial colouring (label column, ``"cluster"`` or ``"dcN"``), see
        :func:`build_report_html`.
    max_points
        Most points drawn in the scatters; larger runs show a stated, seeded sample.
    source
        Output directory named in the page; default ``out_dir`` (the CLI passes the user's
        directory when it builds the outputs in a temporary one).
    assets
        How the page carries plotly.js: ``"inline"`` (the default choice: the page is one
        self-contained file), ``"shared"`` (the page loads ``plotly.min.js``, written once
        beside it, so a folder of reports holds one copy; still offline) or ``None`` (the
        current choice, see :func:`~diffembed.plotting.page.report_assets`).

    Returns
    -------
    pathlib.Path
        The report's path. The page is written to a temporary file in the same directory and
        moved into place with :func:`os.replace`, so no reader ever sees a partial page.
        A missing or unreadable ``embedding.parquet`` raises :class:`InputError`.
    """
    out_dir = Path(out_dir)
    table, spectrum, manifest = _read_outputs(out_dir)
    neighbors, distances = read_neighbors(out_dir)
    source = str(out_dir) if source is None else source
    target = Path(path) if path is not None else out_dir / "report.html"
    with report_assets(assets):
        page = build_report_html(
            table, spectrum, manifest, color_by=color_by, max_points=max_points, source=source,
            neighbors=neighbors, neighbor_distances=distances,
        )  # fmt: skip
        return write_page(page, target)
