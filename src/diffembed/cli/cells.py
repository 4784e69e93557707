"""Cell-data options of ``diffembed map``: ``--use-rep`` (.h5ad input) and the diffusion
pseudotime of ``--root`` / ``--root-label``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import _progress
from ..exceptions import InputError

__all__ = ["check_cells", "pseudotime_column"]


def check_cells(cells: dict[str, Any], input_path: Path | None, label: str | None):
    """Check ``--use-rep``, ``--root`` and ``--root-label`` before any work."""
    if cells.get("use_rep") is not None and (
        input_path is None or input_path.suffix.lower() != ".h5ad"
    ):
        msg = "--use-rep selects an obsm entry of an .h5ad INPUT; other inputs are the data."
        raise InputError(msg)
    if cells.get("root") is not None and cells.get("root_label") is not None:
        msg = "Give --root (a row index) or --root-label (a --label group), not both."
        raise InputError(msg)
    if cells.get("root_label") is not None and label is None:
        msg = "--root-label needs --label COLUMN (the column holding the group names)."
        raise InputError(msg)
    if cells.get("root") is not None and cells["root"] < 0:
        msg = f"--root {cells['root']} is not valid: give a row index >= 0."
        raise InputError(msg)
    return cells


def pseudotime_column(model: Any, cells: dict[str, Any], labels: Any):
    """``(dpt_pseudotime, manifest entry)`` when ``--root`` / ``--root-label`` is given."""
    if cells.get("root") is None and cells.get("root_label") is None:
        return None
    from ..pseudotime import dpt, dpt_truncation, root_from_label

    with _progress.stage("pseudotime"):
        root = cells["root"]
        if root is None:
            root = root_from_label(labels, cells["root_label"], model.eigenvectors_,
                                   model.eigenvalues_)
        pt = dpt(model, int(root))
    entry = {"root": int(root), "root_label": cells.get("root_label"),
             **dpt_truncation(model.eigenvalues_)}
    return pt, entry
