"""One block function behind every path: in memory, streamed, Dask (LocalCluster) and Spark."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_swiss_roll

import diffembed as de
from diffembed.distributed import coordinates_block, transform_array
from diffembed.distributed.spark import spark_schema, spark_transform_function
from diffembed.exceptions import InputError

pd = pytest.importorskip("pandas")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def model():
    X, _ = make_swiss_roll(3000, random_state=0)
    return de.LandmarkDiffusionMap(n_components=4, landmarks=800, random_state=0).fit(X)


@pytest.fixture(scope="module")
def new_rows():
    X, _ = make_swiss_roll(5000, random_state=1)
    return X


@pytest.fixture(scope="module")
def expected(model, new_rows):
    return model.landmark_model_.transform(new_rows)


def test_block_function_equals_transform(model, new_rows, expected):
    np.testing.assert_allclose(coordinates_block(model.landmark_model_, new_rows), expected,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(transform_array(model.landmark_model_, new_rows, block_size=777),
                               expected, rtol=0, atol=1e-12)
    assert coordinates_block(model.landmark_model_, new_rows[:0]).shape == (0, 4)


def test_dask_array_on_a_local_cluster_equals_in_memory(model, new_rows, expected):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        from diffembed.distributed import dask as de_dask

        arr = da.from_array(new_rows, chunks=(1000, 3))
        got = de_dask.transform(arr, model).compute()
        assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_dask_dataframe_keeps_ids_and_matches(model, new_rows, expected):
    from diffembed.distributed import dask as de_dask

    frame = pd.DataFrame(new_rows, columns=["x", "y", "z"])
    frame.insert(0, "id", np.arange(len(frame)) * 10)
    ddf = dd.from_pandas(frame, npartitions=4)
    out = de_dask.transform(ddf, model, columns=["x", "y", "z"], keep=["id"]).compute(
        scheduler="threads")
    assert list(out.columns) == ["id", "dc1", "dc2", "dc3", "dc4"]
    np.testing.assert_array_equal(out["id"].to_numpy(), frame["id"].to_numpy())
    np.testing.assert_allclose(out[["dc1", "dc2", "dc3", "dc4"]].to_numpy(), expected,
                               rtol=0, atol=1e-10)


def test_spark_map_in_pandas_function_matches(model, new_rows, expected):
    frame = pd.DataFrame(new_rows, columns=["x", "y", "z"]).assign(id=np.arange(len(new_rows)))
    fn = spark_transform_function(model, ["x", "y", "z"], keep=["id"])
    parts = list(fn(iter([frame.iloc[:2000], frame.iloc[2000:]])))  # what mapInPandas does
    got = pd.concat(parts, ignore_index=True)
    np.testing.assert_allclose(got[["dc1", "dc2", "dc3", "dc4"]].to_numpy(), expected,
                               rtol=0, atol=1e-10)
    assert spark_schema(model, keep={"id": "bigint"}) == (
        "id bigint, dc1 double, dc2 double, dc3 double, dc4 double")


def test_dask_bad_input(model):
    from diffembed.distributed import dask as de_dask

    with pytest.raises(InputError, match="has 2 columns; the model was fitted on 3"):
        de_dask.transform(da.zeros((10, 2)), model)
    with pytest.raises(InputError, match=r"dask\.array\.Array or a dask\.dataframe\.DataFrame"):
        de_dask.transform(np.zeros((10, 3)), model)
    with pytest.raises(InputError, match="lacks the column"):
        de_dask.transform(dd.from_pandas(pd.DataFrame({"x": [1.0]}), npartitions=1), model,
                          columns=["x", "y", "w"])
