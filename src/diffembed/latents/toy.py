"""A DDPM on points (2-D and up) and a two-sample energy-distance test: a checkable DDPM.

The image DDPM of :mod:`.ddpm` cannot be compared with its data distribution directly; a
DDPM on a few coordinates can. :func:`train_toy_ddpm` fits a small MLP ε-predictor (with a
sinusoidal timestep embedding) under a diffusers :class:`~diffusers.DDPMScheduler` — the
same loss, schedule and ancestral sampler as the image model — and
:func:`energy_distance_test` (Székely & Rizzo 2004, a permutation test) asks whether its
samples and held-out data come from one distribution.

Only :func:`energy_distance_test` works without torch; importing this module loads numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..exceptions import InputError

__all__ = [
    "EnergyTestResult",
    "ToyDDPM",
    "energy_distance",
    "energy_distance_test",
    "sample_toy",
    "train_toy_ddpm",
]


# ----------------------------------------------------------------------- energy distance
class EnergyTestResult(NamedTuple):
    """Result of :func:`energy_distance_test`."""

    statistic: float
    """The energy distance ``sqrt(2 E|X−Y| − E|X−X'| − E|Y−Y'|)`` of the two samples."""
    pvalue: float
    """Permutation p-value, ``(1 + #{permuted ≥ observed}) / (1 + n_permutations)``."""
    n_permutations: int


def _points(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2 or not np.isfinite(arr).all():
        bad = " with non-finite values" if arr.size and not np.isfinite(arr).all() else ""
        msg = (
            f"{name} must be a finite array of at least 2 points, shape (n,) or (n, d); got "
            f"shape {np.shape(x)}{bad}."
        )
        raise InputError(msg)
    return arr


def _pairwise(z: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", z, z)
    d2 = sq[:, None] + sq[None, :] - 2 * z @ z.T
    np.maximum(d2, 0, out=d2)
    np.fill_diagonal(d2, 0)
    return np.sqrt(d2)


def energy_distance(a: Any, b: Any) -> float:
    """Energy distance between two samples of points in R^d (Euclidean, V-statistic).

    ``sqrt(2 E|X−Y| − E|X−X'| − E|Y−Y'|)`` with expectations over all pairs of the
    empirical distributions; in one dimension this equals :func:`scipy.stats.energy_distance`.
    """
    return energy_distance_test(a, b, n_permutations=0).statistic


def energy_distance_test(
    a: Any,
    b: Any,
    *,
    n_permutations: int = 999,
    random_state: int | np.random.Generator | None = None,
) -> EnergyTestResult:
    """Permutation test of "a and b are samples of the same distribution" by energy distance.

    Parameters
    ----------
    a, b
        Samples, shape ``(n, d)`` and ``(m, d)`` (or 1-D).
    n_permutations
        Random relabellings of the pooled sample (0: the statistic only, p-value NaN).
    random_state
        Seed or generator of the permutations.

    Returns
    -------
    EnergyTestResult
        ``statistic`` (the energy distance) and the permutation ``pvalue``.

    Notes
    -----
    The pooled distance matrix ``D`` is computed once; for a label indicator ``z`` the three
    pair sums are ``zᵀDz``, ``(1−z)ᵀD(1−z)`` and ``zᵀD(1−z)``, so all permutations cost one
    matrix product. Memory is ``(n + m)²`` floats.
    """
    x, y = _points(a, "a"), _points(b, "b")
    if x.shape[1] != y.shape[1]:
        msg = f"a and b must have the same dimension; got {x.shape[1]} and {y.shape[1]}."
        raise InputError(msg)
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, int)
        or n_permutations < 0
    ):
        msg = f"n_permutations={n_permutations!r} must be an integer >= 0 (999 is usual)."
        raise InputError(msg)
    n, m = x.shape[0], y.shape[0]
    dist = _pairwise(np.vstack([x, y]))

    def squared(z: np.ndarray) -> np.ndarray:  # z: (n + m, k) 0/1 indicators of "in a"
        dz = dist @ z
        total = dist.sum()
        within_a = np.einsum("ik,ik->k", z, dz)
        cross = dz.sum(axis=0) - within_a  # 1ᵀ D z − zᵀ D z = (1 − z)ᵀ D z
        within_b = total - 2 * cross - within_a
        return 2 * cross / (n * m) - within_a / n**2 - within_b / m**2

    z0 = np.zeros((n + m, 1))
    z0[:n] = 1
    observed = float(squared(z0)[0])
    statistic = math.sqrt(max(observed, 0.0))
    if n_permutations == 0:
        return EnergyTestResult(statistic, float("nan"), 0)
    rng = np.random.default_rng(random_state)
    exceed = 0
    for start in range(0, n_permutations, 256):
        k = min(256, n_permutations - start)
        z = np.zeros((n + m, k))
        for j in range(k):
            z[rng.permutation(n + m)[:n], j] = 1
        exceed += int(np.sum(squared(z) >= observed - 1e-12 * abs(observed)))
    return EnergyTestResult(statistic, (1 + exceed) / (1 + n_permutations), n_permutations)


# ---------------------------------------------------------------------------- toy DDPM
@dataclass
class ToyDDPM:
    """An MLP ε-predictor on points with its DDPMScheduler and the data standardisation."""

    net: Any
    scheduler: Any
    mean: np.ndarray
    scale: np.ndarray
    loss_history: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _make_net(dim: int, hidden: int, embed: int) -> Any:
    import torch

    class EpsMLP(torch.nn.Module):
        """ε_θ(x, t): MLP on [x, sinusoidal embedding of t]."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = embed
            self.body = torch.nn.Sequential(
                torch.nn.Linear(dim + embed, hidden),
                torch.nn.SiLU(),
                torch.nn.Linear(hidden, hidden),
                torch.nn.SiLU(),
                torch.nn.Linear(hidden, hidden),
                torch.nn.SiLU(),
                torch.nn.Linear(hidden, dim),
            )

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            half = self.embed // 2
            freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=x.dtype) / half)
            angles = t.to(x.dtype).view(-1, 1) * freqs.view(1, -1)
            emb = torch.cat([angles.sin(), angles.cos()], dim=1)
            return self.body(torch.cat([x, emb.expand(x.shape[0], -1)], dim=1))

    return EpsMLP()


def train_toy_ddpm(
    points: Any,
    *,
    steps: int = 3000,
    batch_size: int = 256,
    hidden: int = 128,
    num_train_timesteps: int = 200,
    beta_schedule: str = "squaredcos_cap_v2",
    learning_rate: float = 2e-3,
    seed: int = 0,
    num_threads: int | None = None,
) -> ToyDDPM:
    """Train a DDPM on points with an MLP ε-predictor and a diffusers DDPMScheduler.

    Parameters
    ----------
    points
        Training data, shape ``(n, d)``; standardised internally (per-column mean and
        the overall standard deviation).
    steps, batch_size, learning_rate
        Adam optimisation (cosine decay of the learning rate).
    hidden
        Width of the three hidden layers.
    num_train_timesteps, beta_schedule
        The noise schedule.
    seed
        Seed of the weights, batches and noise.
    num_threads
        Torch CPU threads (None: torch's setting).

    Returns
    -------
    ToyDDPM
    """
    import torch

    from .ddpm import _threads, build_scheduler

    x = _points(points, "points")
    mean = x.mean(axis=0)
    scale = np.full(x.shape[1], x.std() or 1.0)
    data = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    scheduler = build_scheduler(  # the ε-loss below
        num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
        prediction_type="epsilon",
    )  # fmt: skip
    scheduler.register_to_config(clip_sample=False)
    alphas_cumprod = scheduler.alphas_cumprod.float()
    losses = np.zeros(steps)
    with _threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _make_net(x.shape[1], hidden, 32)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for step in range(steps):
            x0 = data[torch.randint(0, data.shape[0], (batch_size,), generator=gen)]
            t = torch.randint(0, num_train_timesteps, (batch_size,), generator=gen)
            noise = torch.randn(x0.shape, generator=gen)
            a = alphas_cumprod[t].view(-1, 1)
            loss = torch.nn.functional.mse_loss(
                net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t), noise
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses[step] = float(loss.detach())
    net.eval()
    return ToyDDPM(net, scheduler, mean, scale, losses)


def sample_toy(
    model: ToyDDPM,
    n: int,
    *,
    num_inference_steps: int | None = None,
    seed: int = 0,
    num_threads: int | None = None,
) -> np.ndarray:
    """Draw ``n`` points by ancestral sampling (all training timesteps by default).

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` float64 in the units of the training points.
    """
    import torch

    from .ddpm import _threads

    scheduler = model.scheduler
    steps = num_inference_steps or scheduler.config.num_train_timesteps
    gen = torch.Generator().manual_seed(seed)
    with _threads(num_threads), torch.no_grad():
        scheduler.set_timesteps(steps)
        x = torch.randn((n, model.mean.size), generator=gen)
        for t in scheduler.timesteps:
            eps = model.net(x, t.expand(n))
            x = scheduler.step(eps, t, x, generator=gen).prev_sample
    return x.double().numpy() * model.scale + model.mean
