"""Reading data, writing outputs atomically and saving models as data (no pickles).

The submodules are imported on first use, so ``from diffembed.io import save_model`` does not
import pyarrow.

- :mod:`~diffembed.io.readers`: :func:`read_table`, :func:`file_sha256`
- :mod:`~diffembed.io.writers`: atomic Parquet / CSV / JSON / npy writers,
  :func:`output_directory`
- :mod:`~diffembed.io.persistence`: :func:`save_model`, :func:`load_model`
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "file_sha256",
    "load_model",
    "output_directory",
    "read_model_info",
    "read_table",
    "save_model",
    "write_csv_atomic",
    "write_json_atomic",
    "write_npy_atomic",
    "write_parquet_atomic",
]

_HOME = {
    "file_sha256": "readers",
    "read_table": "readers",
    "load_model": "persistence",
    "read_model_info": "persistence",
    "save_model": "persistence",
    "output_directory": "writers",
    "write_csv_atomic": "writers",
    "write_json_atomic": "writers",
    "write_npy_atomic": "writers",
    "write_parquet_atomic": "writers",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        module = importlib.import_module(f".{_HOME[name]}", __name__)
        return getattr(module, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
