"""Connected components of the candidate-duplicate graph, in Spark DataFrames.

GraphFrames does not resolve from Maven Central for Spark 4.1 (checked with ``mvn dependency:get``),
so this is the large-star / small-star algorithm of Kiveris, Lattanzi, Mirrokni, Rastogi and
Vassilvitskii, "Connected Components in MapReduce and Beyond" (SoCC 2014, §3, Algorithms 1-2), the
one text-dedup's Spark MinHash job uses. Each round is two joins/aggregations; it stops when the
edge set no longer changes (a deterministic test), and it labels every node with the smallest node
id of its component. Nothing is collected to the driver but one count per round.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from pipelines.core.errors import DataError


def _large_star(edges: DataFrame) -> DataFrame:
    """Kiveris et al. Alg. 1: each node u links its larger neighbours to min(N(u) ∪ {u})."""
    both = edges.select(F.col("src").alias("u"), F.col("dst").alias("v")).unionByName(
        edges.select(F.col("dst").alias("u"), F.col("src").alias("v")))
    by_node = Window.partitionBy("u")
    return (both.withColumn("m", F.least("u", F.min("v").over(by_node)))
            .where(F.col("v") > F.col("u")).select(F.col("v").alias("src"), F.col("m").alias("dst")))


def _small_star(edges: DataFrame) -> DataFrame:
    """Kiveris et al. Alg. 2: each node u links itself and its smaller neighbours to min(N(u) ∪ {u})."""
    oriented = edges.select(F.greatest("src", "dst").alias("u"), F.least("src", "dst").alias("v"))
    linked = oriented.withColumn("m", F.min("v").over(Window.partitionBy("u")))
    out = linked.select(F.explode(F.array(F.col("v"), F.col("u"))).alias("src"), "m")
    return out.select("src", F.col("m").alias("dst")).where(F.col("src") != F.col("dst")).distinct()


def connected_components(edges: DataFrame, max_iterations: int = 60) -> DataFrame:
    """``edges(src, dst)`` (undirected) -> ``(node, component)`` for every node on an edge, where
    ``component`` is the smallest node of its connected component.

    Converged when a round (large-star then small-star) leaves the edge set unchanged; then every
    edge is (node, component minimum). Raises :class:`DataError` after ``max_iterations`` rounds.
    """
    current = (edges.where(F.col("src") != F.col("dst"))
               .select(F.greatest("src", "dst").alias("src"), F.least("src", "dst").alias("dst"))
               .distinct().localCheckpoint(eager=True))
    for _ in range(max_iterations):
        current = _small_star(_large_star(current)).localCheckpoint(eager=True)
        # Converged when the edges form stars: no edge points at a node that itself points further.
        # (Large-star then small-star of a star forest returns it unchanged, Kiveris et al. Lemma 3.)
        unfinished = current.join(current.select(F.col("src").alias("dst")), "dst", "left_semi")
        if unfinished.limit(1).count() == 0:
            stars = current.select(F.col("src").alias("node"), F.col("dst").alias("component"))
            roots = current.select(F.col("dst").alias("node"), F.col("dst").alias("component"))
            return stars.unionByName(roots).distinct()
    raise DataError(f"connected components did not converge in {max_iterations} rounds "
                    "(params.max_cc_iterations); raise it for very deep duplicate chains")
