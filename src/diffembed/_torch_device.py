"""One check of a torch device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

Used by everything that runs torch on a user's choice of device: h-space extraction and
``latents decode`` (:mod:`.latents.pipelines`), the CLIP encoder and captioner
(:mod:`.embed.clip`) and ``latents clip-train``. torch is imported only when it is called.
"""

from __future__ import annotations

from typing import Any

from .exceptions import InputError

__all__ = ["resolve_device"]


def resolve_device(device: Any, *, flag: str = "device") -> str:
    """``"auto"`` → ``"cuda"`` when CUDA is available, else ``"cpu"``; other names are checked.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (case-insensitive);
        None means ``"auto"``.
    flag
        How the option is named in messages (``"--device"`` in the CLI).

    Returns
    -------
    str
        The torch device string, e.g. ``"cpu"`` or ``"cuda:1"``.

    Raises
    ------
    InputError
        Not a device name, or a device this machine does not have.
    """
    import torch

    if device is None:
        name = "auto"
    else:
        name = str(device).strip().lower() if isinstance(device, str) else ""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(name) if name else None
    except (RuntimeError, ValueError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda", "mps"):
        msg = f"{flag} {device!r} is not valid: choose auto, cpu, cuda or cuda:N."
        raise InputError(msg)
    if parsed.type == "cuda":
        count = int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
        if count == 0:
            msg = (
                f"{flag} {device!r} was asked for, but torch sees no CUDA device "
                "(torch.cuda.is_available() is False: no GPU, or a CPU-only torch build). Use "
                f"{flag} cpu, or auto (CUDA only when there is one)."
            )
            raise InputError(msg)
        if parsed.index is not None and parsed.index >= count:
            msg = f"{flag} {device!r}: there {'is' if count == 1 else 'are'} only {count} CUDA "
            msg += f"device{'s' if count != 1 else ''} (cuda:0 .. cuda:{count - 1})."
            raise InputError(msg)
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        msg = f"{flag} {device!r}: MPS is not available here. Use {flag} cpu or auto."
        raise InputError(msg)
    return str(parsed)
