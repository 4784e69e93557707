#!/usr/bin/env bash
# latents_gpu.sh — the decode pipeline at GPU scale, in one command.
#
#   bash benchmarks/latents_gpu.sh [WORKDIR]        (default WORKDIR: ./latents-gpu)
#
# On a CUDA machine it
#   1. trains a 32×32 shapes DDPM with three planted associations and a larger U-Net
#      (`diffembed latents train --size 32 ...`),
#   2. trains the small CLIP on the same shapes (`diffembed latents clip-train --dataset shapes`),
#   3. decodes 64 prompts × 32 seeds (2,048 samples) in float16 on CUDA with
#      `--captioner clip:WORKDIR/clip`, and, for comparison, with the model's classifier,
#   4. prints the wall time of every step and the planted recovery (which planted pairs are
#      significant, how many other pairs are) for both captioners.
#
# NOT RUN HERE: the project is developed on CPU-only machines, so this script has never been run
# to the end by its author; its steps are the CLI commands the tests exercise on tiny models.
# Without CUDA it stops at once with a message (exit 2) and trains nothing.
#
# Environment: DIFFEMBED (default: `diffembed` on PATH), PYTHON (default: python3),
# TRAIN_STEPS (default 6000), CLIP_STEPS (passed to clip-train as --steps when set),
# SEEDS (default 32), DECODE_STEPS (default 25), BATCH (default 256).
set -euo pipefail

WORK=${1:-./latents-gpu}
DIFFEMBED=${DIFFEMBED:-diffembed}
PYTHON=${PYTHON:-python3}
TRAIN_STEPS=${TRAIN_STEPS:-6000}
SEEDS=${SEEDS:-32}
DECODE_STEPS=${DECODE_STEPS:-25}
BATCH=${BATCH:-256}

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "latents_gpu.sh: no CUDA device (torch.cuda.is_available() is False, or torch is not" >&2
  echo "installed for $PYTHON). This benchmark needs a GPU; nothing was run. On a CPU, see" >&2
  echo "benchmarks/latents_associations.py for the small version of the same measurement." >&2
  exit 2
fi

mkdir -p "$WORK"
cd "$WORK"
"$PYTHON" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'

declare -A SECONDS_OF
step() {  # step NAME COMMAND...: run, time, remember the time
  local name=$1 start end
  shift
  echo "== $name: $*"
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  SECONDS_OF[$name]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  echo "   $name took ${SECONDS_OF[$name]} s"
}

has_option() {  # has_option SUBCOMMAND --flag: whether `diffembed latents SUBCOMMAND` takes it
  "$DIFFEMBED" latents "$1" --help 2>/dev/null | grep -q -- "$2"
}

# 1. the model: 32×32 shapes, three planted associations, a larger U-Net where train offers one
echo '[["square", "blue", 0.9], ["circle", "red", 0.9], ["triangle", "green", 0.9]]' > plant.json
TRAIN_ARGS=(--size 32 --n 40000 --steps "$TRAIN_STEPS" --batch-size 128 --associations plant.json)
if has_option train --channels; then TRAIN_ARGS+=(--channels 64,128,256); fi
if has_option train --device; then TRAIN_ARGS+=(--device cuda); fi
if [ ! -f model/manifest.json ]; then
  step train "$DIFFEMBED" latents train -o model/ "${TRAIN_ARGS[@]}"
fi

# 2. the CLIP captioner, trained on the same shapes
CLIP_ARGS=(--dataset shapes)
if [ -n "${CLIP_STEPS:-}" ]; then CLIP_ARGS+=(--steps "$CLIP_STEPS"); fi
if has_option clip-train --device; then CLIP_ARGS+=(--device cuda); fi
if [ ! -f clip/manifest.json ]; then
  step clip-train "$DIFFEMBED" latents clip-train -o clip/ "${CLIP_ARGS[@]}"
fi

# the vocabulary: the four attribute families of the shapes
cat > attributes.json <<'JSON'
{"shape": ["circle", "square", "triangle", "cross"],
 "colour": ["red", "green", "blue", "yellow"],
 "size": ["small", "large"],
 "position": ["left", "centre", "right"]}
JSON

# 3. 64 prompts: 4 shapes × 16 phrasings
: > prompts.txt
for s in circle square triangle cross; do
  for p in "a %s" "a picture of a %s" "an image of a %s" "a drawing of a %s" "one %s" "the %s" \
           "a single %s" "a %s shape" "a photo of a %s" "a simple %s" "a %s on a plain background" \
           "an illustration of a %s" "a rendering of a %s" "a %s, centred" "a sketch of a %s" \
           "my %s"; do
    printf "$p\n" "$s" >> prompts.txt
  done
done
echo "prompts: $(wc -l < prompts.txt)"

DECODE=(--prompts prompts.txt --seeds "$SEEDS" --steps "$DECODE_STEPS" --batch-size "$BATCH"
        --device cuda --dtype float16 --method ridge --resume --overwrite)
step decode-clip "$DIFFEMBED" latents decode model/ "${DECODE[@]}" \
  --captioner clip:clip/ --vocabulary attributes.json -o decoded-clip/
step decode-classifier "$DIFFEMBED" latents decode model/ "${DECODE[@]}" \
  --captioner classifier -o decoded-classifier/

# 4. timings and planted recovery
echo
echo "| step | seconds |"
echo "|---|---:|"
for name in train clip-train decode-clip decode-classifier; do
  echo "| $name | ${SECONDS_OF[$name]:-skipped (already there)} |"
done
echo
"$PYTHON" - <<'PY'
import csv

planted = {("square", "blue"), ("circle", "red"), ("triangle", "green")}
for run in ("decoded-clip", "decoded-classifier"):
    with open(f"{run}/associations.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    found = {(r["concept"], r["attribute"]) for r in rows if r["significant"].lower() == "true"}
    recall = len(found & planted) / len(planted)
    print(f"{run}: planted recall {recall:.2f} ({sorted(found & planted)}), "
          f"{len(found - planted)} other significant pairs {sorted(found - planted)[:6]}")
PY
