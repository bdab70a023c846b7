"""``cluster``: FAISS k-means on a bounded seeded sample, then every row assigned on the executors.

Steps, each testable on its own:

1. :func:`pipelines.cluster.sample.training_sample` — at most ``max_train_samples`` usable vectors,
   chosen by a seeded hash of the id (same sample for any partitioning), collected to the driver.
2. :func:`train` — ``faiss.Kmeans`` (GPU when ``faiss.get_num_gpus() > 0``) -> centroids. A sample
   with fewer usable rows than ``num_clusters`` is a :class:`DataError` naming ``params.num_clusters``.
3. :func:`assign` — ``mapInArrow`` with the centroids shipped in the task closure: each executor
   builds a flat FAISS index once per process and labels each Arrow batch. Rows with a null, NaN,
   infinite, wrong-length (or, spherical, all-zero) vector get a ``reason`` instead of a cluster and
   go to ``rejected``; they never fail the run.
4. :func:`centroid_table` — the centroids with the number of rows assigned to each.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.cluster.config import ClusterParams
from pipelines.cluster.sample import training_sample
from pipelines.core import lakehouse
from pipelines.core.contract import STAGE_METRICS, null_id_first
from pipelines.core.errors import ConfigError, DataError
from pipelines.core.local_frames import from_arrow
from pipelines.core.stepclock import StepClock
from pipelines.embed.models import one_model
from udfs.faiss_kmeans import assign_batches, gpu_count, row_sq_norms, train_kmeans

INPUT = "embeddings"


class ClusterOutputs(NamedTuple):
    assignments: DataFrame
    centroids: DataFrame
    rejected: DataFrame


def faiss_on_gpu(params: ClusterParams) -> bool:
    gpus = gpu_count()
    if params.device == "cuda" and gpus == 0:
        raise ConfigError("params.device is 'cuda' but FAISS sees no GPU (install faiss-gpu); use 'auto' or 'cpu'")
    return params.device != "cpu" and gpus > 0


def train(sample: np.ndarray, params: ClusterParams, *, gpu: bool = False, table: str = INPUT) -> np.ndarray:
    """Centroids ``(num_clusters, d)`` from the training sample."""
    if params.spherical and sample.size:
        directed = row_sq_norms(sample) > 0  # a zero vector has no direction
        sample = sample if directed.all() else sample[directed]
    if sample.shape[0] == 0:
        raise DataError(f"table '{table}' has no usable vectors (all null, empty or non-finite) to cluster")
    if sample.shape[0] < params.num_clusters:
        raise DataError(f"params.num_clusters ({params.num_clusters}) is larger than the number of usable rows "
                        f"({sample.shape[0]}) in table '{table}'")
    return train_kmeans(sample, num_clusters=params.num_clusters, niter=params.niter, seed=params.seed,
                        spherical=params.spherical, gpu=gpu, max_points_per_centroid=params.max_points_per_centroid,
                        init=params.init)


def task_cpus() -> int | None:
    """The CPUs Spark gives the running task (``spark.task.cpus``), or None outside a Spark task."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.cpus() if ctx is not None else None


def assigned_fields(id_type) -> list:
    """(id, cluster, distance): the ``assignments`` output's fields, from either engine."""
    return [T.StructField("id", id_type, True), T.StructField("cluster", T.IntegerType(), True),
            T.StructField("distance", T.DoubleType(), True)]


def assign(df: DataFrame, centroids: np.ndarray, params: ClusterParams, *, gpu: bool = False) -> DataFrame:
    """(id, vector) -> (id, cluster, distance, reason), persisted (three outputs read it)."""
    schema = T.StructType(assigned_fields(df.schema["id"].dataType) + [T.StructField("reason", T.StringType(), True)])
    fn = assign_batches(centroids, id_column="id", vector_column="vector", spherical=params.spherical, gpu=gpu,
                        task_cpus=task_cpus)
    return (df.select("id", "vector").mapInArrow(fn, schema)
            .withColumn("reason", null_id_first(F.col("reason"))).persist(StorageLevel.MEMORY_AND_DISK))


_CENTROID_FIELDS = [T.StructField("cluster", T.IntegerType(), False),
                    T.StructField("vector", T.ArrayType(T.FloatType(), False), False)]


def centroid_arrow(centroids: np.ndarray, sizes: np.ndarray | None = None):
    """The centroids as an Arrow table (cluster, vector) and, given ``sizes``, (size)."""
    import pyarrow as pa

    k, d = centroids.shape
    flat = pa.array(np.ascontiguousarray(centroids, dtype=np.float32).reshape(-1))
    columns = {"cluster": pa.array(np.arange(k, dtype=np.int32)),
               "vector": pa.FixedSizeListArray.from_arrays(flat, d).cast(pa.list_(pa.float32()))}
    if sizes is not None:
        columns["size"] = pa.array(np.asarray(sizes, dtype=np.int64))
    return pa.table(columns)


def centroid_table(spark, centroids: np.ndarray, assigned: DataFrame) -> DataFrame:
    """(cluster int, vector array<float>, size long); a cluster no row was assigned to has size 0."""
    sizes = assigned.groupBy("cluster").agg(F.count(F.lit(1)).alias("size"))
    return (spark.createDataFrame(centroid_arrow(centroids), T.StructType(_CENTROID_FIELDS)).join(sizes, "cluster", "left")
            .select("cluster", "vector", F.coalesce(F.col("size"), F.lit(0)).cast("long").alias("size")))


def in_driver(df: DataFrame, params: ClusterParams) -> bool:
    """Whether ``params.engine`` puts the stage in the driver (:func:`cluster_in_driver`): 'auto' when Spark
    estimates the input at most ``params.driver_max_bytes`` and its id is an integer or a string (the sample key
    is reproduced in numpy for those)."""

    id_ok = isinstance(df.schema["id"].dataType, (T.IntegralType, T.StringType))
    if params.engine == "driver" and not id_ok:
        raise ConfigError(f"config key 'params.engine' is 'driver', but table '{INPUT}' column 'id' is "
                          f"{df.schema['id'].dataType.simpleString()}: the driver engine needs an integer or "
                          "string id; use 'auto' or 'spark'")
    if params.engine != "auto":
        return params.engine == "driver"
    if not id_ok:
        return False
    size = lakehouse.input_bytes(df.select("id", "vector"))
    return size is not None and size <= params.driver_max_bytes


def cluster(df: DataFrame, params: ClusterParams, *, table: str = INPUT, clock: StepClock | None = None) -> ClusterOutputs:
    """The whole stage on an ``embeddings`` DataFrame (id, vector); ``clock`` records the seconds of its eager
    steps (the Spark engine assigns the rows as the outputs are written)."""
    clock = clock or StepClock()
    if in_driver(df, params):
        return cluster_in_driver(df, params, table=table, clock=clock)
    gpu = faiss_on_gpu(params)
    total = df.count()
    if total == 0:
        raise DataError(f"table '{table}' is empty: nothing to cluster")
    sample = training_sample(df, max_rows=params.max_train_samples, seed=params.seed, total_rows=total, table=table)
    clock.lap("sample")
    centroids = train(sample, params, gpu=gpu, table=table)
    clock.lap("train")
    labelled = assign(df, centroids, params, gpu=gpu)
    assignments = labelled.where(F.col("reason").isNull()).select("id", "cluster", "distance")
    rejected = labelled.where(F.col("reason").isNotNull()).select("id", "reason")
    return ClusterOutputs(assignments, centroid_table(df.sparkSession, centroids, assignments), rejected)


def cluster_in_driver(df: DataFrame, params: ClusterParams, *, table: str = INPUT,
                      clock: StepClock | None = None) -> ClusterOutputs:
    """:func:`cluster` with the rows in the driver: (id, vector) collected as Arrow in one Spark job, the same
    sample (:func:`pipelines.cluster.sample.sample_keys`: Spark's key, bit for bit), the same training, and
    every row assigned by the same kernel (:func:`udfs.faiss_kmeans.assign_batches`) with FAISS on every
    core; the outputs are handed back to Spark as local relations. Profiled on 1 M x 256 vectors: the Spark
    engine reads the vectors twice (sample, assignment) and converts them to Arrow for the Python workers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipelines.cluster.sample import key_bound, sample_keys, sample_of_received
    from pipelines.core.contract import NULL_ID

    spark, clock = df.sparkSession, clock or StepClock()
    gpu = faiss_on_gpu(params)
    data = lakehouse.plain_scan_arrow(df, ["id", "vector"])
    data = df.select("id", "vector").toArrow() if data is None else data
    clock.lap("collect")
    total = data.num_rows
    if total == 0:
        raise DataError(f"table '{table}' is empty: nothing to cluster")
    keys = sample_keys(data.column("id"), params.seed)
    received = data.append_column("_key", pa.array(keys))
    if total > params.max_train_samples:
        received = received.filter(pa.array(keys < key_bound(params.max_train_samples, total)))
    sample = sample_of_received(received, max_rows=params.max_train_samples, table=table)
    clock.lap("sample")
    centroids = train(sample, params, gpu=gpu, table=table)
    clock.lap("train")
    fn = assign_batches(centroids, id_column="id", vector_column="vector", spherical=params.spherical, gpu=gpu)
    labelled = pa.Table.from_batches(list(fn(iter(data.to_batches(max_chunksize=65_536)))))
    clock.lap("assign")
    reason = pc.if_else(pc.is_null(labelled.column("id")), NULL_ID, labelled.column("reason"))
    placed = pc.is_null(reason)
    assignments = labelled.filter(placed).select(["id", "cluster", "distance"])
    rejected = labelled.filter(pc.invert(placed)).select(["id"]).append_column("reason", pc.filter(reason, pc.invert(placed)))
    id_type = df.schema["id"].dataType
    sizes = np.bincount(assignments.column("cluster").to_numpy(zero_copy_only=False), minlength=len(centroids))
    return ClusterOutputs(
        from_arrow(spark, assignments, T.StructType(assigned_fields(id_type))),
        from_arrow(spark, centroid_arrow(centroids, sizes),
                              T.StructType(_CENTROID_FIELDS + [T.StructField("size", T.LongType(), False)])),
        from_arrow(spark, rejected, T.StructType([T.StructField("id", id_type, True),
                                                  T.StructField("reason", T.StringType(), True)])))


def transform(inputs: Mapping[str, DataFrame], params: ClusterParams) -> dict:
    """The outputs, and the seconds of the eager steps (``seconds.collect``, ``.sample``, ``.train``,
    ``.assign``) in the run's metrics."""
    rows = one_model(inputs[INPUT], params.embedding_model, table=INPUT, key="params.embedding_model")
    clock = StepClock()
    return {**cluster(rows, params, clock=clock)._asdict(), STAGE_METRICS: clock.metrics()}
