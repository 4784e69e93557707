"""Counted progress (rate, ETA), the listener contract the CLI relies on, and ``verbose=``."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.base import clone

import diffembed as de
from diffembed import _progress
from diffembed.exceptions import InputError


@pytest.fixture
def every_update(monkeypatch):
    """Render every update at once (the default waits 2 s between lines, then backs off)."""
    monkeypatch.setattr(_progress, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(_progress, "BACKOFF_FRACTION", 0.0)


def _clock(monkeypatch, now: float) -> None:
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: now)


# ------------------------------------------------------------------------- figures
def test_format_count_and_duration():
    assert _progress.format_count(950) == "950"
    assert _progress.format_count(12_345) == "12.3k"
    assert _progress.format_count(4.2e6) == "4.2M"
    assert _progress.format_count(2.5) == "2.5"
    assert _progress.format_duration(0.042) == "0.04 s"
    assert _progress.format_duration(12.34) == "12.3 s"
    assert _progress.format_duration(125) == "2 min 05 s"
    assert _progress.format_duration(7300) == "2 h 01 min"


def test_task_rate_eta_and_line(monkeypatch):
    _clock(monkeypatch, 100.0)
    running = _progress.Task("neighbors", 1000, unit="rows")
    _clock(monkeypatch, 104.0)
    running.advance(200, recall=0.987)
    assert running.rate == pytest.approx(50.0)
    assert running.eta == pytest.approx(16.0)  # 800 rows left at 50 rows/s
    assert running.describe() == (
        "neighbors: 200/1k rows · 50 rows/s · ETA 16.0 s · recall 0.99"
    )
    running.finished = 110.0
    running.completed = 1000
    assert running.summary() == "(1k rows, 100 rows/s)"


def test_task_without_total_shows_elapsed_not_eta(monkeypatch):
    _clock(monkeypatch, 0.0)
    running = _progress.Task("svd")
    _clock(monkeypatch, 12.5)
    assert running.eta is None
    assert running.describe() == "svd: 12.5 s elapsed"
    running.advance(25, residual=3.2e-5)
    assert running.describe() == "svd: 25 it · 2 it/s · 12.5 s elapsed · residual 3.2e-05"


def test_printed_lines_back_off_a_spinner_does_not(monkeypatch):
    _clock(monkeypatch, 0.0)
    running = _progress.Task("eigensolve")
    lines = _progress._Throttle(running, [_progress._LineRenderer()])
    assert lines._wait(5.0) == 2.0  # REFRESH_SECONDS at first
    assert lines._wait(300.0) == pytest.approx(30.0)  # then a tenth of the elapsed time
    from rich.console import Console

    terminal = _progress.StderrListener(console=Console(force_terminal=True))
    spinner = _progress._Throttle(running, [terminal])
    assert spinner._wait(300.0) == _progress.LIVE_REFRESH_SECONDS


# --------------------------------------------------------------- listener contract
def test_plain_listener_gets_only_start_and_end_events_with_seconds():
    events = []
    timings: dict[str, float] = {}
    with _progress.listen(lambda e, n, s: events.append((e, n))):
        with _progress.task("neighbors", 3, unit="rows", timings=timings) as running:
            for _ in _progress.counted(range(3), running):
                pass
        with _progress.stage("kernel"):
            pass
    assert events == [
        ("start", "neighbors"), ("end", "neighbors"), ("start", "kernel"), ("end", "kernel")
    ]
    assert running.completed == 3
    assert set(timings) == {"neighbors"}


def test_listener_without_progress_method_gets_lines_on_stderr(capsys, every_update):
    # the CLI's stage display is such a listener: it needs no change to show rate and ETA
    with (
        _progress.listen(lambda e, n, s: None),
        _progress.task("null fits", 4, unit="draws") as running,
    ):
        for _ in _progress.counted(range(4), running):
            pass
    err = capsys.readouterr().err
    assert re.search(r"^null fits: 2/4 draws · \S+ draws/s · ETA ", err, re.M), err
    assert capsys.readouterr().out == ""


def test_quiet_listener_gets_no_lines(capsys, every_update):
    class Quiet:
        class ui:
            quiet = True

        def __call__(self, event, name, seconds):
            pass

    with _progress.listen(Quiet()), _progress.task("count", 10, unit="tokens") as running:
        running.advance(10)
    assert capsys.readouterr().err == ""


def test_cli_stage_display_renders_rate_and_eta(capsys, every_update):
    from diffembed.cli.console import UI

    for quiet, expected in ((False, True), (True, False)):
        ui = UI(quiet=quiet)
        with ui.stages(), _progress.task("eigensolve", 10, unit="products") as running:
            for _ in _progress.counted(range(10), running):
                pass
        err = capsys.readouterr().err
        assert ("eigensolve: 5/10 products" in err) is expected, err
        assert ("ETA" in err) is expected, err
        assert ui.timings.keys() == {"eigensolve"}


def test_only_the_outermost_task_is_rendered_and_counted(capsys, every_update):
    with _progress.verbosity(1), _progress.task("null fits", 2, unit="draws") as outer:
        for _ in _progress.counted(range(2), outer):
            with _progress.task("ward", 10, unit="merges") as inner:
                inner.advance(10)
            with _progress.stage("diffusion coordinates"):
                # work inside a plain stage is not the enclosing task's
                assert _progress.current() is None
            with _progress.detached():
                assert _progress.current() is None
            assert _progress.current() is outer
    err = capsys.readouterr().err
    assert "ward:" not in err
    assert "ward …" not in err  # nested stages are listed only with verbose >= 2
    assert outer.completed == 2
    assert err.splitlines()[-1].startswith("null fits … ")
    assert err.splitlines()[-1].endswith("(2 draws, " + err.splitlines()[-1].split(", ")[-1])


def test_current_is_none_when_nobody_listens():
    with _progress.task("eigensolve"):
        assert _progress.current() is None  # the solvers skip counting


# ---------------------------------------------------------------------- verbose=
def _cloud(n: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 3 * np.pi, n)
    return np.c_[np.cos(s), np.sin(s), 0.3 * s] + rng.normal(0, 0.05, (n, 3))


def test_diffusion_map_verbose_zero_prints_nothing(capsys):
    de.DiffusionMap(n_components=2, random_state=0).fit(_cloud())
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_diffusion_map_verbose_one_prints_stages_with_rate_and_eta(capsys, every_update):
    dm = de.DiffusionMap(n_components=2, eigen_solver="arpack", random_state=0, verbose=1)
    dm.fit(_cloud())
    err = capsys.readouterr().err
    lines = err.splitlines()
    stages = [line.split(" … ")[0] for line in lines if " … " in line]
    assert stages == ["neighbors", "bandwidth", "kernel", "operator", "eigensolve"]
    assert re.search(r"^neighbors … [\d.]+ s \(600 rows, \S+ rows/s\)$", err, re.M), err
    products = re.search(r"^eigensolve … [\d.]+ s \((\d+) products, \S+ products/s\)$", err, re.M)
    assert products, err
    assert int(products.group(1)) > 10  # ARPACK's matrix-vector products were counted
    assert re.search(r"^eigensolve: \d+ products · \S+ products/s · .* · solver arpack", err, re.M)
    # same result as a silent fit: counting does not change the solve
    quiet = de.DiffusionMap(n_components=2, eigen_solver="arpack", random_state=0).fit(_cloud())
    np.testing.assert_array_equal(dm.eigenvalues_, quiet.eigenvalues_)


def test_amg_progress_shows_iterations_and_residual(capsys, every_update):
    de.DiffusionMap(n_components=2, eigen_solver="amg", random_state=0, verbose=1).fit(_cloud())
    err = capsys.readouterr().err
    line = r"^eigensolve: \d+ iterations · .* · solver amg · residual \S+"
    assert re.search(line, err, re.M), err
    assert re.search(r"^eigensolve … [\d.]+ s \(\d+ iterations, ", err, re.M), err


def test_verbose_is_a_parameter_that_clones_and_sets():
    dm = de.DiffusionMap(verbose=1)
    assert dm.get_params()["verbose"] == 1
    assert clone(dm).verbose == 1
    assert dm.set_params(verbose=0).verbose == 0
    for cls in (de.DiffusionHierarchy, de.DiffusionSmoother):
        assert cls().get_params()["verbose"] == 0
        assert clone(cls(verbose=2)).verbose == 2


def test_saved_model_keeps_verbose(tmp_path):
    dm = de.DiffusionMap(n_components=2, random_state=0, verbose=1).fit(_cloud(200))
    dm.save(tmp_path / "model")
    loaded = de.load(tmp_path / "model")
    assert loaded.verbose == 1
    np.testing.assert_allclose(loaded.eigenvalues_, dm.eigenvalues_)


@pytest.mark.parametrize("bad", [-1, 1.5, "yes"])
def test_bad_verbose_names_the_allowed_values(bad):
    with pytest.raises(InputError, match=r"verbose=.* is not valid: use 0 \(silent"):
        de.DiffusionMap(verbose=bad).fit(_cloud(100))


def test_hierarchy_verbose_one_line_for_all_null_fits(capsys, every_update):
    # not one "null … 0.00 s" line per draw: one task, counted in fits, with rate and ETA
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, (60, 2)) for c in (0, 4, 8)])
    de.DiffusionHierarchy(n_null=5, random_state=0, verbose=1).fit(X)
    err = capsys.readouterr().err
    null_lines = [line for line in err.splitlines() if line.startswith("null … ")]
    assert len(null_lines) == 1, err
    assert re.search(r"\(5 fits, \S+ fits/s\)$", null_lines[0])
    assert re.search(r"^null: [1-4]/5 fits · .* · ETA ", err, re.M), err
    # three components of 60 points: 3 x 59 merges inside them (the roots are joined after)
    assert re.search(r"^ward … [\d.]+ s \(177 merges, ", err, re.M), err
    assert "ward: 59/177 merges" in err
    de.DiffusionHierarchy(n_null=2, random_state=0).fit(X)
    assert capsys.readouterr().err == ""
    de.DiffusionHierarchy(n_null=0, random_state=0, verbose=1).fit(X)
    assert "null" not in capsys.readouterr().err  # no null fits: no line


def test_smoother_verbose(capsys):
    X = _cloud(200)
    de.DiffusionSmoother(n_neighbors=5).fit_transform(X)
    assert capsys.readouterr().err == ""
    de.DiffusionSmoother(n_neighbors=5, verbose=1).fit_transform(X)
    err = capsys.readouterr().err
    assert re.search(r"^graph … [\d.]+ s \(200 rows, \S+ rows/s\)$", err, re.M), err
    assert re.search(r"^smooth … [\d.]+ s$", err, re.M), err


def test_embed_builders_take_verbose(capsys):
    from diffembed.embed import lsa, word_vectors

    docs = [f"cats and dogs play {w} in the park number {i}" for i, w in
            enumerate(["ball", "tag", "chess", "cards", "games", "music"] * 3)]
    lsa(docs, n_components=2)
    word_vectors(docs, dim=2, min_count=1)
    assert capsys.readouterr().err == ""
    lsa(docs, n_components=2, verbose=1)
    err = capsys.readouterr().err
    assert re.search(r"^vectorize … [\d.]+ s \(18 documents, ", err, re.M), err
    assert re.search(r"^svd … [\d.]+ s$", err, re.M), err
    word_vectors(docs, dim=2, min_count=1, verbose=1)
    err = capsys.readouterr().err
    assert re.search(r"^count … [\d.]+ s \(\d+ tokens, \S+ tokens/s\)$", err, re.M), err
    with pytest.raises(InputError, match="verbose=-2 is not valid"):
        lsa(docs, n_components=2, verbose=-2)


def test_stability_search_counts_settings_with_rate_and_eta(capsys, every_update):
    from diffembed.smoothing.graphs import knn_adjacency

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(200, 6))
    runs = [truth + 0.5 * rng.normal(size=truth.shape) for _ in range(3)]
    sm = de.DiffusionSmoother(graph=knn_adjacency(truth, 8), mode="stability", runs=runs,
                              verbose=1)  # fmt: skip
    sm.fit(runs[0])
    err = capsys.readouterr().err
    # the unsmoothed runs + 4 PPR + 4 heat settings, as in search_
    assert len(sm.search_) == 9
    assert re.search(r"^stability search … [\d.]+ s \(9 settings, \S+ settings/s\)$", err, re.M)
    assert re.search(r"^stability search: [1-8]/9 settings · .* · ETA ", err, re.M), err


def test_protocol_evaluation_and_smoothing_count_runs():
    from diffembed.smoothing.graphs import knn_adjacency
    from diffembed.smoothing.protocol import evaluate_runs, smooth_runs

    rng = np.random.default_rng(0)
    runs = [rng.normal(size=(120, 5)) for _ in range(3)]
    with _progress.listen(lambda e, n, s: None):
        with _progress.task("smooth (knn)", 3, unit="runs") as smoothing:
            Ys, _ = smooth_runs(runs, knn_adjacency(runs[0], 5), operator="ppr", alpha=0.5)
        with _progress.task("evaluate (knn)", 3, unit="runs") as evaluation:
            evaluate_runs(Ys, raw=runs)
    assert smoothing.completed == 3
    assert evaluation.completed == 3
