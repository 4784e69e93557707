#!/usr/bin/env bash
# Create the benchmark virtualenvs. Peers are NEVER core dependencies of diffembed.
#
#   .venv-bench     : diffembed (editable) + scanpy, pydiffmap, phate (+ pynndescent 0.6.0 pin),
#                     gensim + karateclub (embedding builders, benchmarks/embed.py)
#   .venv-datafold  : datafold in its own venv (it pins older numpy/scipy/sklearn);
#                     only created if datafold does not co-install into .venv-bench.
#
# Usage:  bash benchmarks/setup_bench_env.sh        (from the repository root)
# Env:    PYTHON=python3.11  (interpreter used to create the venvs)
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
LOG=benchmarks/results/setup_bench_env.log
mkdir -p benchmarks/results
: > "$LOG"
say() { echo "[setup] $*" | tee -a "$LOG"; }

# ---------------------------------------------------------------- .venv-bench
if [ ! -x .venv-bench/bin/python ]; then
  say "creating .venv-bench with $($PY --version 2>&1)"
  "$PY" -m venv .venv-bench
fi
B=.venv-bench/bin/pip
$B install -q --upgrade pip setuptools wheel >>"$LOG" 2>&1

# diffembed itself (editable), only once pyproject.toml exists
if [ -f pyproject.toml ]; then
  say "installing diffembed (editable)"
  $B install -q -e . >>"$LOG" 2>&1 || say "WARNING: pip install -e . failed (see $LOG)"
else
  say "pyproject.toml not present yet: skipping diffembed install (re-run this script later)"
fi

# Peers. pynndescent is pinned to 0.6.0: scanpy 1.11.x crashes for n >= 4096
# with pynndescent 0.7.0 (csr_array.getnnz).  run.py additionally passes a
# sklearn KNeighborsTransformer to scanpy, so the pin is belt and braces.
say "installing peers: scanpy pydiffmap phate"
$B install -q "scanpy" "pynndescent==0.6.0" "pydiffmap" "phate" >>"$LOG" 2>&1 \
  || say "WARNING: peer install into .venv-bench failed (see $LOG)"
# hierarchy benchmark (benchmarks/hierarchy.py): Ward and Multiscale PHATE peers
say "installing peers: fastcluster multiscale_phate"
$B install -q "fastcluster" "multiscale_phate" >>"$LOG" 2>&1 \
  || say "WARNING: fastcluster/multiscale_phate install failed (see $LOG)"

# embedding builders (benchmarks/embed.py): gensim (SGNS, DeepWalk skip-gram) and karateclub.
# karateclub 1.3.3 pins numpy<1.23, networkx<2.7, pandas<=1.3.5 (no wheels for this Python):
# install it without its pins, plus the few modules its package import needs.
say "installing peers: gensim networkx karateclub (--no-deps)"
GENSIM_WHEEL=$(ls data/wheels/gensim-*.whl 2>/dev/null | head -1)
$B install -q ${GENSIM_WHEEL:-gensim} networkx >>"$LOG" 2>&1 \
  || say "WARNING: gensim install failed (see $LOG)"
$B install -q --no-deps karateclub python-louvain pygsp decorator six tqdm >>"$LOG" 2>&1 \
  || say "WARNING: karateclub install failed (see $LOG)"
# networkit: C++ LFR generator for the 100k-node graphs of benchmarks/embed.py (networkx's did
# not finish one in 15 minutes)
$B install -q networkit >>"$LOG" 2>&1 || say "WARNING: networkit install failed (see $LOG)"

# latents WEAT benchmark (benchmarks/latents_weat.py): wefe pins numpy<=1.26.4, so its own venv
[ -x .venv-wefe/bin/python ] || "$PY" -m venv .venv-wefe; .venv-wefe/bin/pip install -q wefe >>"$LOG" 2>&1 || say "WARNING: wefe install into .venv-wefe failed (see $LOG)"

# --------------------------------------------------------------- datafold
# First try to co-install without disturbing the resolved stack; if pip would
# have to downgrade numpy/scipy/sklearn, put datafold in its own venv instead.
if .venv-bench/bin/python -c "import datafold" 2>/dev/null; then
  say "datafold already importable in .venv-bench"
else
  say "checking whether datafold co-installs into .venv-bench"
  if $B install -q --dry-run datafold >>"$LOG" 2>&1 && \
     ! $B install --dry-run datafold 2>/dev/null | grep -Eiq "Would install.*(numpy|scipy|scikit-learn|pandas)-"; then
    $B install -q datafold >>"$LOG" 2>&1 && say "datafold installed into .venv-bench"
  fi
  if ! .venv-bench/bin/python -c "import datafold" 2>/dev/null; then
    say "datafold goes to its own venv .venv-datafold"
    [ -x .venv-datafold/bin/python ] || "$PY" -m venv .venv-datafold
    D=.venv-datafold/bin/pip
    $D install -q --upgrade pip setuptools wheel >>"$LOG" 2>&1
    if $D install -q datafold >>"$LOG" 2>&1; then
      say "datafold installed into .venv-datafold"
    else
      say "FAILED: datafold cannot be installed on $($PY --version 2>&1) (see $LOG)"
    fi
  fi
fi

# ---------------------------------------------------------------- summary
say "versions:"
.venv-bench/bin/python - <<'PY' 2>&1 | tee -a "$LOG"
import importlib
for m in ["numpy", "scipy", "sklearn", "diffembed", "scanpy", "anndata", "pynndescent", "pydiffmap", "phate", "datafold", "gensim", "karateclub"]:
    try:
        mod = importlib.import_module(m)
        print(f"  .venv-bench     {m:12s} {getattr(mod, '__version__', '?')}")
    except Exception as e:  # noqa: BLE001
        print(f"  .venv-bench     {m:12s} NOT IMPORTABLE ({type(e).__name__}: {str(e)[:80]})")
PY
if [ -x .venv-datafold/bin/python ]; then
  .venv-datafold/bin/python - <<'PY' 2>&1 | tee -a "$LOG"
import importlib
for m in ["numpy", "scipy", "sklearn", "datafold"]:
    try:
        mod = importlib.import_module(m)
        print(f"  .venv-datafold  {m:12s} {getattr(mod, '__version__', '?')}")
    except Exception as e:  # noqa: BLE001
        print(f"  .venv-datafold  {m:12s} NOT IMPORTABLE ({type(e).__name__}: {str(e)[:80]})")
PY
fi
