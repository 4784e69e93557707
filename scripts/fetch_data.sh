#!/usr/bin/env bash
# Fetch the offline data behind diffembed's embedding recipes (set-up time only; the library and
# the tests never download anything).
#
#   bash scripts/fetch_data.sh            # -> data/debian/usr/share/{dictd,wordnet}/...
#                                         #    data/gensim/{wordsim353.tsv,simlex999.txt,questions-words.txt}
#   DIFFEMBED_DATA=/some/dir bash scripts/fetch_data.sh
#
# Debian packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` (no root,
# no dictd daemon): dict-gcide (Webster 1913 + WordNet 1.5 definitions, ~3.9M clean tokens),
# wordnet-base (WordNet 3.0: glosses ~1.5M tokens, and the synset graph), and the smaller
# dict-foldoc, dict-jargon, dict-devil and fortunes (~1.3M tokens together). The evaluation sets
# (WS353, SimLex-999, Google analogies) and the small Lee news corpus come from the gensim wheel
# (`pip download --no-deps`, then only those four files are unzipped).
# The data folder carries its own .gitignore so nothing in it is ever committed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DIFFEMBED_DATA:-$ROOT/data}"
PYTHON="${PYTHON:-python3}"
DEBS=(dict-gcide wordnet-base dict-foldoc dict-jargon dict-devil fortunes)
GENSIM_FILES=(wordsim353.tsv simlex999.txt questions-words.txt lee_background.cor)

mkdir -p "$DATA/debs" "$DATA/debian" "$DATA/gensim" "$DATA/wheels"
printf '*\n' > "$DATA/.gitignore"

# --- Debian text and WordNet ---------------------------------------------------------------
if [ -f "$DATA/debian/usr/share/dictd/gcide.dict.dz" ] && [ -f "$DATA/debian/usr/share/wordnet/data.noun" ] \
   && [ -d "$DATA/debian/usr/share/games/fortunes" ]; then
    echo "debian data already in $DATA/debian"
else
    if ! apt-get download --print-uris "${DEBS[@]}" >/dev/null 2>&1; then
        echo "apt has no package lists yet; running apt-get update" >&2
        apt-get update -qq || { echo "apt-get update failed (run it as root, or install ${DEBS[*]} yourself)" >&2; exit 1; }
    fi
    (cd "$DATA/debs" && apt-get download "${DEBS[@]}")
    for deb in "$DATA"/debs/*.deb; do
        dpkg-deb -x "$deb" "$DATA/debian"
    done
    echo "unpacked ${DEBS[*]} under $DATA/debian"
fi

# --- gensim wheel: WS353, SimLex-999, Google analogies -------------------------------------
missing=0
for f in "${GENSIM_FILES[@]}"; do [ -f "$DATA/gensim/$f" ] || missing=1; done
if [ "$missing" = 0 ]; then
    echo "evaluation sets already in $DATA/gensim"
else
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$DATA/wheels" gensim
    "$PYTHON" - "$DATA" "${GENSIM_FILES[@]}" <<'EOF'
import glob, sys, zipfile
from pathlib import Path
data, names = Path(sys.argv[1]), sys.argv[2:]
wheel = sorted(glob.glob(str(data / "wheels" / "gensim-*.whl")))[-1]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        (data / "gensim" / name).write_bytes(z.read(f"gensim/test/test_data/{name}"))
print(f"extracted {', '.join(names)} from {Path(wheel).name} into {data / 'gensim'}")
EOF
fi
