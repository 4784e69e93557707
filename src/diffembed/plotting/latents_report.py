"""Self-contained, offline HTML report of ``diffembed latents decode``.

Reads ``associations.csv`` (required), ``samples.parquet``, ``hspace.npy``, ``samples.png``
and ``manifest.json`` from an output directory and writes one page: the effect of every
concept × attribute pair as bars grouped by concept (significant pairs dark and starred, the
``min_effect`` floor dashed), the table of significant pairs with the caption-rate check, the
h-space as a diffusion map (:class:`diffembed.DiffusionMap` on the h-vectors, self-tuning
bandwidth) in the explorer,
coloured by prompt, concept or any predicted attribute, the generated samples (a contact
sheet embedded as a ``data:`` PNG), and the parameters. Every user string (prompts, captions,
words) is escaped in markup and travels as JSON made safe by :func:`~.encoding.safe_json`; the
Content-Security-Policy runs only the page's own scripts and loads nothing.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DiffembedError, InputError
from ..latents.associations import reverses
from .encoding import figure_json, safe_json
from .explorer import ExplorerSection, explorer_section, static_text
from .latents_evidence import (
    _number,
    adherence_section,
    evidence_bars_spec,
    extra_tables_section,
    pairs_table,
    read_extra_tables,
)
from .page import (
    _e,
    _fmt,
    _kpi,
    _table,
    _timings,
    page_document,
    report_assets,
    write_page,
)

__all__ = [
    "build_latents_report_html",
    "contact_sheet",
    "png_bytes",
    "read_latents_outputs",
    "write_latents_report",
]

_FIX = "run `diffembed latents decode MODEL --prompts FILE -o {out}` first"
#: Most bars drawn (the pairs with the smallest q first).
MAX_BARS = 120
_NUMERIC = {
    "effect", "p_value", "q_value", "n_concept", "n_rest", "n_prompts_concept",
    "n_prompts_rest", "caption_rate_concept", "caption_rate_rest", "caption_p_value",
    "direction_sd", "effect_hspace", "p_hspace", "q_hspace", "effect_captions", "p_captions",
    "q_captions", "n_attribute", "seed_sd_hspace", "seed_sd_captions",
}  # fmt: skip


# ------------------------------------------------------------------------------ images
def png_bytes(rgb: np.ndarray) -> bytes:
    """An ``(H, W, 3)`` uint8 image as PNG bytes (zlib only, no imaging library)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        msg = f"png_bytes needs an (H, W, 3) uint8 image, not shape {rgb.shape}."
        raise InputError(msg)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        crc = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + body + crc

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(raw, 9))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def contact_sheet(
    images: np.ndarray,
    groups: Sequence[int] | np.ndarray,
    *,
    max_rows: int = 32,
    max_cols: int = 12,
    pad: int = 1,
) -> np.ndarray:
    """One row per group (prompt), one column per sample of it: ``(H, W, 3)`` uint8.

    Parameters
    ----------
    images
        ``(n, 3, h, w)`` floats in [0, 1].
    groups
        Group of every image (rows in order of first appearance).
    max_rows, max_cols
        At most this many groups and samples per group.
    pad
        Grey pixels between images.
    """
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim != 4 or imgs.shape[1] != 3:
        msg = f"images must have shape (n, 3, h, w), not {imgs.shape}."
        raise InputError(msg)
    groups = np.asarray(groups)
    keys = list(dict.fromkeys(groups.tolist()))[:max_rows]
    _, _, h, w = imgs.shape
    cols = min(max_cols, max(int((groups == k).sum()) for k in keys)) if keys else 1
    sheet = np.full((len(keys) * (h + pad) + pad, cols * (w + pad) + pad, 3), 96, np.uint8)
    for r, k in enumerate(keys):
        for c, i in enumerate(np.flatnonzero(groups == k)[:cols]):
            tile = (np.clip(imgs[i], 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            sheet[y : y + h, x : x + w] = tile
    return sheet


# ------------------------------------------------------------------------------ reading
def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for k, v in row.items():
            if k in _NUMERIC:
                item[k] = float(v) if v not in ("", None) else float("nan")
            elif k in ("significant", "reliable"):
                item[k] = str(v).strip().lower() in ("true", "1")
            else:
                item[k] = v
        out.append(item)
    return out


def read_latents_outputs(out_dir: str | Path) -> dict[str, Any]:
    """What the report needs from a decode directory (missing optional files are None).

    Returns
    -------
    dict
        ``associations`` (list of row dicts), ``samples`` (column → array or None), ``h``
        (array or None), ``sheet`` (PNG bytes or None), ``manifest`` (dict), ``tables``
        (``adherence``, ``words``, ``defaults``, ``concepts``: rows of the CSVs present).

    Raises
    ------
    InputError
        A missing or unreadable ``associations.csv`` or an unreadable optional file.
    """
    out_dir = Path(out_dir)
    fix = _FIX.format(out=out_dir)
    path = out_dir / "associations.csv"
    if not path.is_file():
        what = "" if out_dir.is_dir() else f" ({out_dir} does not exist)"
        msg = f"{path} is missing{what}, so there are no associations to report: {fix}."
        raise InputError(msg)
    try:
        rows = _read_csv(path)
    except (OSError, ValueError, csv.Error) as exc:
        msg = f"Cannot read {path} ({exc}): {fix}."
        raise InputError(msg) from exc
    samples = h = sheet = None
    manifest: dict[str, Any] = {}
    try:
        if (out_dir / "samples.parquet").is_file():
            import pyarrow.parquet as pq

            table = pq.read_table(out_dir / "samples.parquet")
            samples = {
                c: np.asarray(table.column(c).to_numpy(zero_copy_only=False))
                for c in table.column_names
            }
        if (out_dir / "hspace.npy").is_file():
            h = np.load(out_dir / "hspace.npy", allow_pickle=False)
        if (out_dir / "samples.png").is_file():
            sheet = (out_dir / "samples.png").read_bytes()
        if (out_dir / "manifest.json").is_file():
            manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"Cannot read the outputs in {out_dir} ({exc}): {fix}."
        raise InputError(msg) from exc
    if not isinstance(manifest, dict):
        manifest = {}
    extra = read_extra_tables(out_dir)
    return {"associations": rows, "samples": samples, "h": h, "sheet": sheet, "manifest": manifest,
            "tables": extra}  # fmt: skip


# ------------------------------------------------------------------------------ pieces
def _concept_column(prompts: np.ndarray, concepts: Sequence[str]) -> np.ndarray:
    from ..latents.directions import tokenize

    keep = set(concepts)
    out = []
    for p in prompts:
        words = [w for w in tokenize(str(p)) if w in keep]
        out.append(" ".join(words) if words else "—")
    return np.asarray(out, dtype=object)


def _hspace_explorer(
    h: np.ndarray | None, samples: Mapping[str, np.ndarray] | None, concepts: Sequence[str],
    notices: list[str],
) -> ExplorerSection | None:
    """The diffusion map of the h-vectors in the explorer (None when it cannot be drawn)."""
    if h is None or samples is None or "prompt" not in samples:
        notices.append("No hspace.npy / samples.parquet: the h-space map is not drawn.")
        return None
    n = h.shape[0]
    if len(samples["prompt"]) != n:
        notices.append(
            f"hspace.npy has {n} rows but samples.parquet {len(samples['prompt'])}: the h-space "
            "map is not drawn; rerun `diffembed latents decode`."
        )
        return None
    if n < 8:
        notices.append(f"Only {n} samples: too few for a diffusion map of h-space.")
        return None
    from ..diffusion_map import DiffusionMap
    from ..latents.directions import flatten_h

    H = flatten_h(h)
    k = int(min(15, n - 1))
    try:
        # self-tuning bandwidth: samples of one seed can be near-duplicates across prompts,
        # which makes a global bandwidth collapse the map into a few points; samples of
        # different concepts can form separate pieces: each is diagonalised on its own, so
        # every sample is drawn
        dm = DiffusionMap(n_components=int(min(6, n - 2)), n_neighbors=k, random_state=0,
                          bandwidth="adaptive", disconnected="components")  # fmt: skip
        coords = dm.fit_transform(H)
    except (DiffembedError, ValueError) as exc:
        notices.append(f"The diffusion map of h-space could not be computed ({exc}).")
        return None
    names = [f"dc{j + 1}" for j in range(coords.shape[1])]
    pieces = int(dm.n_connected_components_)
    if pieces > 1:
        notices.append(
            f"The neighbour graph of h-space has {pieces} connected components (samples in "
            "separate clusters). x and y lay them side by side, each with its own first two "
            "diffusion coordinates, largest first; distances between pieces mean nothing. "
            "dc1… are the coordinates of all pieces together (0 outside their own piece)."
        )
        coords = np.column_stack([_side_by_side(H, dm.component_labels_, k), coords])
        names = ["x", "y", *names]
    metadata: dict[str, np.ndarray] = {"concept": _concept_column(samples["prompt"], concepts)}
    for name, values in samples.items():
        if name not in ("prompt", "prompt_id"):
            metadata[name] = values
    return explorer_section(
        coords, samples["prompt"], label_name="prompt", metadata=metadata, colour_by="concept",
        categorical=["seed"], coord_names=names,
        neighbours=10, neighbour_space=H, metric="euclidean", space="h-space",
        title="h-space explorer",
        intro="Every generated sample at its diffusion coordinates of h-space (a diffusion map "
        "of the h-vectors). Colour by concept, prompt or any predicted attribute; click a sample "
        "for its nearest neighbours in h-space.",
    )  # fmt: skip


def _side_by_side(H: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``(n, 2)``: every connected piece at its own first two diffusion coordinates, scaled to
    a unit box and set on a grid, largest first (as umap-learn lays out the components of a
    disconnected graph). A piece too small for a map, or one that cannot be embedded (identical
    samples), is a ring filling its cell. Each piece is fitted again on its own: the global fit
    has too few coordinates to give every piece two of its own."""
    from ..diffusion_map import DiffusionMap

    pieces = np.unique(labels)  # 0 is the largest
    columns = int(np.ceil(np.sqrt(pieces.size)))
    out = np.zeros((labels.size, 2))
    for piece in pieces:
        rows = np.flatnonzero(labels == piece)
        angle = 2 * np.pi * np.arange(rows.size) / rows.size
        xy = 0.2 * np.column_stack([np.cos(angle), np.sin(angle)])
        # a piece of identical samples cannot be embedded: it keeps the ring
        with contextlib.suppress(DiffembedError, ValueError):
            if rows.size >= 5:
                xy = DiffusionMap(
                    n_components=2, n_neighbors=int(min(k, rows.size - 1)), random_state=0,
                    bandwidth="adaptive", disconnected="components",
                ).fit_transform(H[rows])  # fmt: skip
        xy = np.nan_to_num(xy - xy.mean(axis=0))
        scale = np.abs(xy).max(axis=0)
        xy = xy / np.where(scale > 0, scale, 1.0)
        out[rows] = xy + 3.0 * np.array([piece % columns, -(piece // columns)])
    return out


# ------------------------------------------------------------------------------ building
def build_latents_report_html(outputs: Mapping[str, Any], *, source: str | None = None) -> str:
    """The decode report as one HTML string (pure: reads and writes no file).

    Parameters
    ----------
    outputs
        As returned by :func:`read_latents_outputs`.
    source
        The output directory named in the page.

    Returns
    -------
    str
    """
    rows = list(outputs.get("associations") or [])
    manifest = dict(outputs.get("manifest") or {})
    params = manifest.get("parameters") if isinstance(manifest.get("parameters"), Mapping) else {}
    res = manifest.get("results") if isinstance(manifest.get("results"), Mapping) else {}
    inp = manifest.get("input") if isinstance(manifest.get("input"), Mapping) else {}
    min_effect = params.get("min_effect")
    min_effect = float(min_effect) if isinstance(min_effect, int | float) else None
    notices: list[str] = []
    truncated = manifest.get("truncated_prompts") or []
    if truncated:
        notices.append(
            f"{len(truncated)} prompts were longer than the text encoder's "
            f"{manifest.get('encoder_max_tokens')} tokens and were truncated: "
            + "; ".join(str(t) for t in truncated[:5])
        )
    significant = [r for r in rows if r.get("significant")]
    concepts = sorted({str(r["concept"]) for r in rows})
    store: dict[str, Any] = {}
    config = {"displaylogo": False, "responsive": True, "showSendToCloud": False, "showLink": False}
    bars = figure_json(evidence_bars_spec(rows, min_effect), store, config)
    extra = dict(outputs.get("tables") or {})
    unreliable = [r for r in rows if r.get("reliable") is False]
    for r in extra.get("adherence") or []:
        if str(r.get("reliable", "")).strip().lower() not in ("true", "1", "yes"):
            rate, threshold = _number(r.get("rate")), _number(r.get("threshold"))
            notices.append(
                f"The model looks undertrained for {r.get('family')}: {_fmt(100 * rate, 3)} % "
                f"of the samples show the prompted {r.get('family')} (threshold "
                f"{_fmt(100 * threshold, 3)} %). Its associations are marked unreliable (⚠)."
            )
    explorer = _hspace_explorer(outputs.get("h"), outputs.get("samples"), concepts, notices)
    sheet = outputs.get("sheet")
    samples = outputs.get("samples") or {}
    prompts_in_order = list(dict.fromkeys(str(p) for p in samples.get("prompt", [])))[:32]
    if sheet:
        uri = "data:image/png;base64," + base64.b64encode(sheet).decode("ascii")
        labels = "".join(f"<li>{_e(p)}</li>" for p in prompts_in_order)
        w, h_px = struct.unpack(">II", sheet[16:24]) if len(sheet) > 24 else (0, 0)
        zoom = max(1, min(4, 720 // max(w, 1)))
        size = f' width="{w * zoom}" height="{h_px * zoom}"' if w else ""
        images = (
            f'<div class="sheet"><img class="contact"{size} alt="generated samples, one row per '
            f'prompt" src="{_e(uri)}"><ol class="prompts">{labels}</ol></div>'
        )
    else:
        images = '<p class="empty">No samples.png in this directory.</p>'
    h = outputs.get("h")
    shape = list(h.shape) if h is not None else res.get("h_shape")
    n_samples = shape[0] if shape else res.get("n_samples")
    kpis = "".join([
        _kpi("Samples", _fmt(n_samples), f"{_fmt(inp.get('n_prompts'))} prompts"),
        _kpi("h-space", f"{shape[-1]} dims" if shape else "—",
             f"{shape[1]} timesteps" if shape and len(shape) == 3 else ""),
        _kpi("Pairs tested", str(len(rows)), "concept × attribute"),
        _kpi("Significant", str(len(significant)),
             f"evidence: {params.get('evidence') or res.get('evidence') or 'both'}; "
             f"q < {_fmt(params.get('q_threshold'))} and d ≥ {_fmt(min_effect)}"),
        _kpi("Unreliable", str(len(unreliable)), "pairs of an undertrained family",
             warn=bool(unreliable)),
    ])  # fmt: skip
    shown = significant[:6]
    sig_list = (
        ", ".join(f"{r['concept']} → {r['attribute']}"
                  + (f" (reverse of {rev[0]} → {rev[1]})" if rev else "")
                  + ("" if r.get("reliable") is not False else " (unreliable)")
                  for r, rev in zip(shown, reverses([(str(r["concept"]), str(r["attribute"]))
                                                     for r in shown]), strict=True))
        if significant else "no significant association"
    )  # fmt: skip
    name = model_name(inp.get("model"))
    summary = " · ".join([
        f"<b>{_e(len(rows))}</b> pairs", f"<b>{_e(len(significant))}</b> significant",
        _e(sig_list),
    ])  # fmt: skip
    method_note = (
        "Two tests per concept → attribute pair, samples whose prompt contains the concept "
        "against the baseline (prompts of the same family without it). h-space: Cohen's d of "
        "the projections on the attribute's direction, each sample measured from its own "
        "prompt's samples that lack the attribute (so differences between prompts cannot "
        "create an effect). Captions: Cohen's d of 'the caption names the attribute' (no h). "
        "p: prompt-level permutation tests; q: Benjamini–Hochberg per test. Significant (★): "
        "the chosen evidence holds (q below the threshold and d at least the dashed floor). "
        "⚠: the concept's or attribute's family failed the adherence gate."
    )
    input_rows = [(k, inp[k]) for k in ("model", "model_kind", "prompts_file", "prompts_sha256",
                                        "n_prompts") if k in inp]  # fmt: skip
    input_rows.append(("output directory", source))
    keys = ("command", "created", "diffembed_version")
    run_rows = [(k, manifest[k]) for k in keys if k in manifest]
    versions = list((manifest.get("versions") or {}).items())
    main = f"""<section class="card"><h2>Associations</h2>
<p class="sub">{_e(method_note)}</p>
<div id="fig-bars" class="plot"></div>
<h3>Pairs by q-value</h3>{pairs_table(rows)}</section>
{adherence_section(extra.get("adherence"))}
{extra_tables_section(extra)}
{explorer.html if explorer else ""}
<section class="card"><h2>Generated samples</h2>
<p class="sub">One row per prompt (up to 32), one column per seed.</p>{images}</section>
<section class="grid halves">
<article class="card"><h2>Run summary</h2><div class="kpis">{kpis}</div>
<h3>Timings</h3>{_timings(manifest.get("timings") or {})}</article>
<article class="card"><h2>Parameters</h2>{_table(list(params.items()))}</article>
</section>
<section class="grid halves">
<article class="card"><h2>Input</h2>{_table(input_rows)}<h3>Run</h3>{_table(run_rows)}</article>
<article class="card"><h2>Software</h2>{_table(versions)}</article>
</section>"""
    scripts = list(explorer.scripts) if explorer else []
    return page_document(
        title=f"h-space decoding · {name}",
        eyebrow="diffembed latents decode report",
        heading=f"h-space associations of {name}",
        summary=summary,
        meta=" · ".join(str(v) for v in (manifest.get("created"), inp.get("prompts_file")) if v),
        main=main,
        scripts=scripts,
        css=static_text("report.css") + _CSS + (explorer.css if explorer else ""),
        notices=notices,
        plots={"fig-bars": bars},
        store=safe_json(store),
    )


_CSS = """
.scroll{overflow-x:auto}table.pairs th,table.pairs td{width:auto;text-align:right}
table.pairs td:nth-child(-n+2),table.pairs th:nth-child(-n+2){text-align:left}
table.pairs tr.salient td{font-weight:650;background:#f0f4f8}
table.pairs tr.unreliable td{color:#8a5a00;background:#fff8e6}
.meter{display:inline-block;width:80px;height:8px;background:#e5e9ee;vertical-align:middle}
.meter span{display:block;height:100%;background:#1f4e79}
.sheet{display:flex;gap:12px;align-items:flex-start;overflow-x:auto}
.sheet ol.prompts{margin:0;padding-left:1.8em;font-size:13px}
img.contact{image-rendering:pixelated;max-width:100%;height:auto;flex:none}
"""


_GENERIC = re.compile(r"^(model|models|pipeline|unet|checkpoint|snapshots?|main|[0-9a-f]{40})$")


def model_name(model: Any) -> str:
    """A readable name of the model a decode run used, for the page's title.

    A diffusers pipeline's own ``_name_or_path`` (``model_index.json``) when it names one; a
    Hugging Face cache folder (``models--org--name/snapshots/<hash>``) or id as ``org/name``;
    else the path's last part that is not a generic name (``model``, ``pipeline``, a hash),
    without a file suffix.
    """
    if not model:
        return "a model"
    text = str(model).rstrip("/\\")
    path = Path(text)
    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
        named = index.get("_name_or_path") if isinstance(index, dict) else None
        if isinstance(named, str) and named.strip() and not Path(named).is_absolute():
            return named.strip()
    except (OSError, ValueError):
        pass
    for part in reversed(path.parts):
        if part.startswith("models--"):  # the Hugging Face cache
            return part[len("models--") :].replace("--", "/")
    if not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", text):
        return text  # a hub id: org/name
    parts = [Path(p).stem if i == len(path.parts) - 1 else p for i, p in enumerate(path.parts)]
    for part in reversed(parts):
        if part not in ("", "/", ".", "..") and not _GENERIC.match(part.lower()):
            return part
    return path.name or text


def write_latents_report(
    out_dir: str | Path,
    path: str | Path | None = None,
    *,
    source: str | None = None,
    assets: str | None = None,
) -> Path:
    """Write the report of a decode directory, atomically.

    Parameters
    ----------
    out_dir
        Directory written by ``diffembed latents decode``.
    path
        Where to write the page; default ``out_dir / "report.html"``.
    source
        Output directory named in the page; default ``out_dir``.
    assets
        How the page carries plotly.js: ``"inline"`` (self-contained), ``"shared"`` (one
        ``plotly.min.js`` written beside it) or ``None`` (the current choice, see
        :func:`~diffembed.plotting.page.report_assets`).

    Returns
    -------
    pathlib.Path
    """
    out_dir = Path(out_dir)
    outputs = read_latents_outputs(out_dir)
    with report_assets(assets):
        page = build_latents_report_html(
            outputs, source=str(out_dir) if source is None else source
        )
        return write_page(page, Path(path) if path is not None else out_dir / "report.html")
