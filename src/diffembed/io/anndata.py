"""``.h5ad`` (AnnData) input for the CLI, and the ``h5ad`` export of a ``diffembed map`` run.

Reading: the data matrix is a representation of the cells, ``obsm[use_rep]`` or ``X``; by
default ``obsm["X_pca"]`` when there are more than 50 variables and it exists (scanpy's rule),
else ``X``. ``--label`` and ``--id`` name ``obs`` columns; the ids default to ``obs_names``.

Writing (``--format h5ad``): ``embedding.h5ad`` holds the cells with the fields
``de.tl.diffmap`` writes (scanpy's layout: ``obsm["X_diffmap"]``, ``uns["diffmap_evals"]``,
``obsm["X_diffembed"]``, ``uns["diffembed"]``) and every metadata column of the run
(``dpt_pseudotime`` when ``--root`` was given) in ``obs``. When the run's input was an
``.h5ad`` that is still where it was, unchanged (same SHA-256), the export starts from it, so
every field of the input is kept; otherwise it starts from an AnnData with no ``X``.

anndata is an optional dependency: ``pip install 'diffembed[anndata]'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError

__all__ = ["H5AD_FILE", "read_h5ad_input", "read_h5ad_table", "write_h5ad_export"]

#: The file ``--format h5ad`` writes into the output directory.
H5AD_FILE = "embedding.h5ad"
#: Densify ``X`` up to this many entries; beyond it ask for a representation.
_MAX_DENSE = 200_000_000


def _anndata() -> Any:
    try:
        import anndata
    except ImportError as exc:
        msg = "Reading or writing .h5ad needs anndata: pip install 'diffembed[anndata]'."
        raise ImportError(msg) from exc
    return anndata


def _read(path: Path) -> Any:
    anndata = _anndata()
    try:
        return anndata.read_h5ad(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        msg = f"Cannot read {path} as AnnData ({type(exc).__name__}: {exc}). Is it an .h5ad file?"
        raise InputError(msg) from exc


def _obs_column(adata: Any, name: str, option: str) -> np.ndarray:
    if name not in adata.obs.columns:
        cols = ", ".join(map(str, adata.obs.columns[:20])) or "none"
        msg = f"{option} {name!r} is not an obs column of the .h5ad file (obs columns: {cols})."
        raise InputError(msg)
    column = adata.obs[name]
    if column.dtype.kind in "biuf":
        return column.to_numpy()
    return np.asarray(column.astype(str), dtype=object)


def read_h5ad_table(
    path: str | Path,
    *,
    label: str | None = None,
    id_column: str | None = None,
    use_rep: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, list[str]]:
    """Read an ``.h5ad`` file as ``read_table`` reads a table.

    Parameters
    ----------
    path
        The file.
    label, id_column
        ``obs`` columns kept as metadata; the ids default to ``obs_names``.
    use_rep
        ``"X"`` or an ``obsm`` key; default as described in the module docstring.

    Returns
    -------
    X : ndarray of shape (n_cells, n_features), float64
    labels : ndarray or None
    ids : ndarray of str
    feature_names : list of str
        ``var_names`` for ``X``, ``{use_rep}_1..`` for a representation.
    """
    path = Path(path)
    adata = _read(path)
    if use_rep is None:
        use_rep = "X_pca" if adata.n_vars > 50 and "X_pca" in adata.obsm else "X"
    if use_rep == "X":
        X = adata.X
        if X is None:
            msg = f"{path.name} has no X: give --use-rep with an obsm key."
            raise InputError(msg)
        if sp.issparse(X) and X.shape[0] * X.shape[1] > _MAX_DENSE:
            msg = (
                f"{path.name}: X is sparse with {X.shape[0]} × {X.shape[1]} entries, too large "
                "to densify. Give --use-rep X_pca (run sc.pp.pca first)."
            )
            raise InputError(msg)
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        names = [str(v) for v in adata.var_names]
    elif use_rep in adata.obsm:
        X = np.asarray(adata.obsm[use_rep])
        if X.ndim != 2:
            msg = f"obsm[{use_rep!r}] of {path.name} has shape {X.shape}; a 2-D array is needed."
            raise InputError(msg)
        names = [f"{use_rep}_{j + 1}" for j in range(X.shape[1])]
    else:
        keys = ", ".join(adata.obsm.keys()) or "none"
        msg = f"--use-rep {use_rep!r} is not in obsm of {path.name} (obsm keys: {keys}; or X)."
        raise InputError(msg)
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        msg = f"{path.name}: {use_rep} has NaN or infinite values in {bad} cells; drop them first."
        raise InputError(msg)
    labels = None if label is None else _obs_column(adata, label, "--label")
    ids = (np.asarray(adata.obs_names.astype(str)) if id_column is None
           else _obs_column(adata, id_column, "--id"))
    return X, labels, ids, names


def read_h5ad_input(
    path: Path, label: str | None, id_column: str | None, use_rep: str | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, list[str], dict[str, Any]]:
    """:func:`read_h5ad_table` plus the manifest's input entry (as the CLI's ``read_input``)."""
    from .. import _progress
    from .readers import file_sha256

    path = Path(path).expanduser()
    if not path.is_file():
        msg = f"Input file {path} does not exist. Check the path."
        raise InputError(msg)
    with _progress.stage("read"):
        X, labels, ids, names = read_h5ad_table(path, label=label, id_column=id_column,
                                                use_rep=use_rep)
        info = {
            "path": str(path.resolve()),
            "dataset": None,
            "sha256": file_sha256(path),
            "n_samples": int(X.shape[0]),
            "n_features": int(X.shape[1]),
            "use_rep": use_rep or ("X_pca" if names and names[0] == "X_pca_1" else "X"),
        }
    return X, labels, ids, names, info


def _source_adata(out_dir: Path, manifest: dict[str, Any], n: int) -> tuple[Any, str]:
    """The run's input AnnData if it is still there unchanged, else an empty one."""
    from .readers import file_sha256

    anndata = _anndata()
    info = manifest.get("input") if isinstance(manifest.get("input"), dict) else {}
    path = info.get("path") if isinstance(info, dict) else None
    if isinstance(path, str) and path.lower().endswith(".h5ad"):
        candidate = Path(path)
        if candidate.is_file() and file_sha256(candidate) == info.get("sha256"):
            adata = _read(candidate)
            if adata.n_obs == n:
                return adata, str(candidate)
    return anndata.AnnData(obs={"_": np.zeros(n)}).copy(), ""


def write_h5ad_export(out_dir: str | Path, *, t: float | None = None) -> Path:
    """Write ``embedding.h5ad`` for a ``diffembed map`` output directory.

    Parameters
    ----------
    out_dir
        The output directory (with ``embedding.parquet``, ``manifest.json`` and ``model/``).
    t
        Diffusion time of ``obsm["X_diffembed"]``; default the run's.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from ..tl import layout_from_arrays, model_summary, scanpy_layout
    from .exporters import read_run
    from .persistence import load_model
    from .writers import atomic_path

    out_dir = Path(out_dir)
    if not (out_dir / "model").is_dir():
        msg = (
            f"{out_dir} has no model/: the h5ad export is for `diffembed map` outputs "
            "(run `diffembed map INPUT -o OUT --format h5ad`)."
        )
        raise InputError(msg)
    run = read_run(out_dir)
    model = load_model(out_dir / "model")
    manifest: dict[str, Any] = {}
    if (out_dir / "manifest.json").is_file():
        loaded = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        manifest = loaded if isinstance(loaded, dict) else {}
    n = run.coords.shape[0]
    adata, source = _source_adata(out_dir, manifest, n)
    if "_" in adata.obs.columns and not source:
        del adata.obs["_"]
        if "id" in run.columns:
            adata.obs_names = [str(v) for v in run.columns["id"]]
    if np.shape(model.eigenvectors_)[0] == n:
        X_diffmap, evals = scanpy_layout(model)
    else:  # a landmark run saves its landmarks' model: ψ of every row from the coordinates
        X_diffmap, evals = layout_from_arrays(run.coords_at(0.0), model.eigenvalues_)
    adata.obsm["X_diffmap"] = X_diffmap
    adata.uns["diffmap_evals"] = evals
    adata.obsm["X_diffembed"] = run.coords_at(t)
    use_rep = (manifest.get("input") or {}).get("use_rep") if isinstance(
        manifest.get("input"), dict) else None
    adata.uns["diffembed"] = model_summary(model, f"obsm[{use_rep!r}]" if use_rep else "input")
    if isinstance(manifest.get("landmarks"), dict):  # the saved model is the landmarks' fit
        adata.uns["diffembed"]["method"] = "LandmarkDiffusionMap"
        adata.uns["diffembed"]["n_landmarks"] = int(manifest["landmarks"].get("n_landmarks", 0))
    if isinstance(manifest.get("dpt"), dict):
        adata.uns["diffembed"]["dpt"] = {k: v for k, v in manifest["dpt"].items()
                                         if v is not None}
        adata.uns["iroot"] = int(manifest["dpt"]["root"])
    for name in run.metadata:
        values = run.columns[name]
        adata.obs[name] = values.astype(str) if values.dtype == object else values
    path = out_dir / H5AD_FILE
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return path
