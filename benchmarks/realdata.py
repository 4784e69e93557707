"""Real-data panel: are diffembed's defaults right on data a new user brings?

    PYTHONPATH=$PWD/src /work/main/.venv-bench/bin/python benchmarks/realdata.py

For each dataset (scikit-learn's digits, iris, wine and breast cancer; scanpy's bundled
``pbmc68k_reduced`` (700 cells x 50 PCs) and ``krumsiek11``; PPMI-SVD vectors of the 5,000 most
frequent WordNet nouns of the offline Debian corpus, labelled by lexicographer class; a noisy
swiss roll in 50 dimensions) it fits diffembed with its defaults, with every bandwidth rule at
α ∈ {0, ½, 1}, scanpy (``pp.neighbors`` + ``tl.diffmap``), PHATE and plain PCA, and reports

* ``5-NN acc``: 5-NN label accuracy, 5-fold stratified CV, in ``min(10, n_features - 1)``
  coordinates;
* ``≈1``: non-trivial eigenvalues within 1e-6 of 1 (beyond each component's trivial one);
* ``comp``: connected components of the method's graph;
* fit seconds, and whether the fit finished (each fit runs in a forked child with a timeout).

Writes ``benchmarks/results/realdata.md`` and ``.json``. scanpy and PHATE are optional (their
rows say "not installed"); the word vectors are cached under ``benchmarks/data/``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per fit: fair, and safe to fork
# numba's OpenMP layer makes fork() abort; its work-queue layer is fork-safe
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = HERE / "data"
TOL = 1e-6
RULES = ("adaptive", "bgh", "knn")
ALPHAS = (0.0, 0.5, 1.0)


# ------------------------------------------------------------------------ datasets
def load_sklearn(name: str):
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }[name]
    X, y = loader(return_X_y=True)
    X = X.astype(np.float64)
    if name in ("wine", "breast_cancer"):
        X = StandardScaler().fit_transform(X)
    return X, y


def load_scanpy(name: str):
    import scanpy as sc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "pbmc68k_reduced":
            adata = sc.datasets.pbmc68k_reduced()  # ships in the scanpy wheel
            return np.asarray(adata.obsm["X_pca"], np.float64), _codes(adata.obs["bulk_labels"])
        adata = sc.datasets.krumsiek11()  # ships in the scanpy wheel
        return np.asarray(adata.X, np.float64), _codes(adata.obs["cell_type"])


def _codes(values) -> np.ndarray:
    return np.unique(np.asarray(values).astype(str), return_inverse=True)[1]


def _noun_classes(data_dir: Path) -> dict[str, str]:
    """Lemma -> lexicographer class of its first (most frequent) noun sense."""
    from diffembed.embed.data import _lexnames

    offsets: dict[str, int] = {}
    with open(data_dir / "data.noun", encoding="latin-1") as handle:
        for line in handle:
            if not line.startswith("  "):
                fields = line.split()
                offsets[fields[0]] = int(fields[1])
    lexnames = _lexnames(data_dir)
    classes = {}
    with open(data_dir / "index.noun", encoding="latin-1") as handle:
        for line in handle:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, n_synsets, n_pointers = fields[0], int(fields[2]), int(fields[3])
            first = fields[4 + n_pointers + 2]
            if n_synsets and lemma.isalpha():
                classes[lemma] = lexnames.get(offsets[first], str(offsets[first]))
    return classes


def load_nouns(n_words: int = 5000, dim: int = 100):
    """PPMI-SVD vectors of the Debian corpus's most frequent WordNet nouns (cached)."""
    cache = CACHE / f"nouns_{n_words}_{dim}.npz"
    if cache.exists():
        saved = np.load(cache)
        return saved["X"], saved["y"]
    from diffembed.embed import data, word_vectors

    noun_file = data.find_data_file("usr/share/wordnet/data.noun")
    classes = _noun_classes(Path(noun_file).parent)
    started = time.perf_counter()
    wv = word_vectors(list(data.debian_corpus()), dim=dim, max_vocab=30_000, threads=1)
    keep = [i for i, w in enumerate(wv.words) if w in classes][:n_words]
    X = np.asarray(wv.vectors[keep], np.float64)
    y = _codes([classes[wv.words[i]] for i in keep])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, X=X, y=y)
    print(f"  .. built noun vectors in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return X, y


def load_roll():
    sys.path.insert(0, str(HERE))
    from scale_data import make_manifold_mixture

    X, u = make_manifold_mixture(3000, d=50, seed=0)
    y = np.digitize(u, np.quantile(u, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6]))
    return X.astype(np.float64), y


DATASETS = {
    "digits": lambda: load_sklearn("digits"),
    "iris": lambda: load_sklearn("iris"),
    "wine": lambda: load_sklearn("wine"),
    "breast_cancer": lambda: load_sklearn("breast_cancer"),
    "pbmc68k_reduced": lambda: load_scanpy("pbmc68k_reduced"),
    "krumsiek11": lambda: load_scanpy("krumsiek11"),
    "debian_nouns": load_nouns,
    "swiss_roll_50d": load_roll,
}
NOTES = {
    "digits": "1,797 x 64, 10 digits",
    "iris": "150 x 4, 3 species (3 coordinates)",
    "wine": "178 x 13 standardised, 3 cultivars",
    "breast_cancer": "569 x 30 standardised, 2 classes",
    "pbmc68k_reduced": "700 cells x 50 PCs, 10 bulk labels",
    "krumsiek11": "640 x 11 simulated, 5 cell types",
    "debian_nouns": "5,000 nouns x 100 PPMI-SVD dims, 26 lexicographer classes",
    "swiss_roll_50d": "3,000 x 50 noisy roll, 6 position bins",
}


# ------------------------------------------------------------------------- methods
def fit_diffembed(X, m, params):
    import diffembed as de
    from diffembed.diffusion_checks import count_near_one

    params = dict(params)
    if params.get("bandwidth") == "sweep":  # the default before the panel: no floor
        from diffembed.kernels import estimate_bandwidth
        from diffembed.neighbors import knn_graph

        graph, _ = knn_graph(X, 15, method="exact")
        params["bandwidth"] = estimate_bandwidth(graph, connectivity_floor=False).epsilon
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm = de.DiffusionMap(m, random_state=0, **params)
        Z = dm.fit_transform(X)
    return Z, {"near_one": count_near_one(dm.eigenvalues_, TOL),
               "components": int(dm.n_connected_components_),
               "epsilon": float(dm.bandwidth_), "solver": dm.eigen_solver_,
               "top": [float(v) for v in dm.eigenvalues_[:3]]}  # fmt: skip


def fit_scanpy(X, m, params):
    import anndata
    import scanpy as sc
    from scipy.sparse.csgraph import connected_components

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.AnnData(X.astype(np.float32))
        sc.pp.neighbors(adata, n_neighbors=15, use_rep="X", random_state=0)
        sc.tl.diffmap(adata, n_comps=m + 1)
    evals = np.asarray(adata.uns["diffmap_evals"])
    n_comp = connected_components(adata.obsp["connectivities"], directed=False)[0]
    return np.asarray(adata.obsm["X_diffmap"])[:, 1 : m + 1], {
        "near_one": max(int(np.sum(evals > 1 - TOL)) - n_comp, 0), "components": int(n_comp),
        "top": [float(v) for v in evals[1:4]]}  # fmt: skip


def fit_phate(X, m, params):
    import phate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        op = phate.PHATE(n_components=m, random_state=0, n_jobs=1, verbose=0)
        return op.fit_transform(X), {}


def fit_pca(X, m, params):
    return PCA(m, random_state=0).fit_transform(X), {}


def methods():
    rows = [("diffembed defaults", fit_diffembed, {}),
            ("diffembed old default (sweep, no floor)", fit_diffembed, {"bandwidth": "sweep"})]
    for rule in RULES:
        for alpha in ALPHAS:
            rows.append((f"diffembed {rule} α={alpha:g}", fit_diffembed,
                         {"bandwidth": rule, "alpha": alpha}))  # fmt: skip
    rows += [("scanpy diffmap", fit_scanpy, {}), ("PHATE", fit_phate, {}), ("PCA", fit_pca, {})]
    return rows


def _available(fn) -> str | None:
    import importlib.util

    module = {fit_scanpy: "scanpy", fit_phate: "phate"}.get(fn)
    return None if module is None or importlib.util.find_spec(module) else "not installed"


# ------------------------------------------------------------------------- running
def _child(conn, fn, X, m, params):
    try:
        started = time.perf_counter()
        Z, info = fn(X, m, params)
        conn.send(("ok", time.perf_counter() - started, np.asarray(Z, np.float64), info))
    except Exception as exc:  # reported in the table, never hidden
        conn.send(("error", 0.0, None, {"error": f"{type(exc).__name__}: {str(exc)[:160]}"}))


def run_one(fn, X, m, params, timeout):
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, X, m, params))
    proc.start()
    child.close()
    if parent.poll(timeout):
        try:
            status, seconds, Z, info = parent.recv()
        except EOFError:  # the child died without an answer
            status, seconds, Z, info = "crashed", 0.0, None, {}
        proc.join()
    else:
        proc.kill()
        proc.join()
        status, seconds, Z, info = "timeout", float(timeout), None, {}
    return status, seconds, Z, info


def warm_up(selected: str = "") -> None:
    """Import every method and fit it once on tiny data in this process, before any fork.

    scanpy's neighbour search compiles numba code on its first call (38 s measured here); the
    children inherit the compiled code, so the table times fits, not compilers.
    """
    X = np.random.default_rng(0).normal(size=(300, 10))
    for label, fn, params in methods()[:1] + methods()[-3:]:  # defaults, scanpy, PHATE, PCA
        if _available(fn) or (selected and not any(s in label for s in selected.split(","))):
            continue
        started = time.perf_counter()
        try:
            fn(X, 5, params)
        except Exception as exc:  # shown again, per dataset, in the table
            print(f"  warm-up {label}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"  warm-up {label}: {time.perf_counter() - started:.1f} s", file=sys.stderr)


def accuracy(Z, y) -> float:
    if not np.isfinite(Z).all():
        return float("nan")
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(KNeighborsClassifier(5), Z, y, cv=cv).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--methods", default="", help="comma-separated substrings of method names")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per fit")
    ap.add_argument("--out", default=str(RESULTS / "realdata"))
    args = ap.parse_args(argv)
    warm_up(args.methods)
    panel = []
    for name in args.datasets.split(","):
        try:
            X, y = DATASETS[name]()
        except Exception as exc:  # a missing optional package or data file
            print(f"{name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            panel.append({"dataset": name, "skipped": f"{type(exc).__name__}: {exc}"})
            continue
        m = min(10, X.shape[1] - 1)
        print(f"{name} {X.shape}, {m} coordinates", file=sys.stderr)
        for label, fn, params in methods():
            if args.methods and not any(s in label for s in args.methods.split(",")):
                continue
            row = {"dataset": name, "method": label}
            missing = _available(fn)
            if missing:
                row.update(status=missing)
                panel.append(row)
                continue
            status, seconds, Z, info = run_one(fn, X, m, params, args.timeout)
            row.update(status=status, seconds=round(seconds, 3), **info)
            if Z is not None:
                row["accuracy"] = round(accuracy(Z, y), 4)
            panel.append(row)
            print(f"  {label:26s} {status:8s} {seconds:7.2f}s acc {row.get('accuracy')}",
                  file=sys.stderr)  # fmt: skip
    table = markdown(panel, args)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(table, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(panel, indent=1), encoding="utf-8")
    return 0


def markdown(panel, args) -> str:
    lines = [
        "# Real-data panel",
        "",
        "`PYTHONPATH=$PWD/src python benchmarks/realdata.py` (one BLAS thread per fit, each "
        f"in a forked child with a {args.timeout:g} s timeout, after a warm-up fit of every "
        "method in the parent so that imports and numba compilation are not timed). 5-NN acc: "
        "5-fold stratified CV accuracy of a 5-nearest-neighbour classifier in "
        "min(10, features - 1) coordinates. "
        "≈1: non-trivial eigenvalues within 1e-6 of 1 beyond each component's trivial one. "
        "comp: connected components of the method's neighbour graph.",
        "",
    ]
    for name in dict.fromkeys(r["dataset"] for r in panel):
        rows = [r for r in panel if r["dataset"] == name]
        if "skipped" in rows[0]:
            lines += [f"## {name}", "", f"skipped: {rows[0]['skipped']}", ""]
            continue
        lines += [f"## {name} ({NOTES.get(name, '')})", "",
                  "| method | 5-NN acc | ≈1 | comp | fit s | finished | notes |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            acc = f"{r['accuracy']:.3f}" if "accuracy" in r else "—"
            notes = r.get("error") or (f"ε {r['epsilon']:.3g}, {r['solver']}"
                                       if "epsilon" in r else "")  # fmt: skip
            lines.append(
                f"| {r['method']} | {acc} | {r.get('near_one', '—')} | "
                f"{r.get('components', '—')} | {r.get('seconds', float('nan')):.2f} | "
                f"{'yes' if r['status'] == 'ok' else r['status']} | {notes} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
