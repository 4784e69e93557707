"""Spark for real: ``mapInPandas`` on a local[2] session equals the in-memory transform.

Needs pyspark (the ``test`` extra) and a Java runtime (Debian ``default-jre-headless``, which
``.ci/install-java.sh`` installs when run as root); skipped, saying which is missing, otherwise.
The session is loopback-only (driver on 127.0.0.1, no UI) and its Python workers run this
interpreter (``PYSPARK_PYTHON``), which is what a user has to set too.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
from sklearn.datasets import make_swiss_roll

import diffembed as de
from diffembed.exceptions import InputError

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark)")
pd = pytest.importorskip("pandas")


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


pytestmark = pytest.mark.skipif(
    _java() is None,
    reason="no Java runtime for Spark (apt-get install default-jre-headless, or set JAVA_HOME)",
)


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP")}
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("diffembed-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def model():
    X, _ = make_swiss_roll(1000, random_state=0)
    return de.LandmarkDiffusionMap(n_components=4, landmarks=200, random_state=0).fit(X)


@pytest.fixture(scope="module")
def rows():
    X, _ = make_swiss_roll(1000, random_state=1)
    frame = pd.DataFrame(X, columns=["x", "y", "z"])
    frame.insert(0, "id", np.arange(len(frame), dtype=np.int64) * 7)
    frame["label"] = [f"row {i}" for i in range(len(frame))]
    return frame


def test_local_spark_equals_in_memory_transform(spark, model, rows):
    from diffembed.distributed import spark as de_spark

    expected = model.landmark_model_.transform(rows[["x", "y", "z"]].to_numpy())
    sdf = spark.createDataFrame(rows).repartition(2)  # one Python worker per core
    out = de_spark.transform(sdf, model, ["x", "y", "z"], keep=["id", "label"])
    assert out.columns == ["id", "label", "dc1", "dc2", "dc3", "dc4"]
    assert out.schema["id"].dataType.simpleString() == "bigint"
    got = out.toPandas().sort_values("id").reset_index(drop=True)
    assert len(got) == len(rows)
    np.testing.assert_array_equal(got["id"].to_numpy(), rows["id"].to_numpy())
    assert got["label"].tolist() == rows["label"].tolist()
    coords = got[["dc1", "dc2", "dc3", "dc4"]].to_numpy()
    np.testing.assert_allclose(coords, expected, rtol=0, atol=1e-10)


def test_spark_transform_checks_columns_before_running(spark, model, rows):
    from diffembed.distributed import spark as de_spark

    sdf = spark.createDataFrame(rows)
    with pytest.raises(InputError, match=r"lacks the column\(s\) \['w'\]"):
        de_spark.transform(sdf, model, ["x", "y", "w"])
    with pytest.raises(InputError, match=r"2 feature column.*fitted on 3"):
        de_spark.transform(sdf, model, ["x", "y"])
    with pytest.raises(InputError, match=r"needs a pyspark\.sql\.DataFrame, got DataFrame"):
        de_spark.transform(rows, model, ["x", "y", "z"])
