"""Map a CSV table with a diffusion map and save the coordinates.

Run: ``python map_csv.py [table.csv]``. Without an argument it writes ``iris.csv`` first, so the
script runs as is; with your own table, every numeric column except an ``id`` column is used.
The same from the shell: ``diffembed map table.csv --id id -o out/``.
"""

import sys

import pandas as pd
from sklearn.datasets import load_iris

import diffembed as de

if len(sys.argv) > 1:
    path = sys.argv[1]
else:
    iris = load_iris(as_frame=True)
    path = "iris.csv"
    iris.data.assign(id=range(len(iris.data)), species=iris.target_names[iris.target]).to_csv(
        path, index=False
    )

table = pd.read_csv(path)
features = table.select_dtypes("number").drop(columns=["id"], errors="ignore")
dm = de.DiffusionMap(n_components=3, n_neighbors=15, random_state=0).set_output(transform="pandas")
coords = dm.fit_transform(features)

print(f"{len(features)} rows x {features.shape[1]} columns {list(features.columns)}")
print("eigenvalues:", dm.eigenvalues_.round(4))
print("timescales: ", dm.timescales_.round(2))
coords.to_csv("coords.csv", index=False)
print("wrote coords.csv with columns", list(coords.columns))
