"""The quality checks recomputed from written tables can fail: each derived check table, given a designed
output that breaks its rule, holds exactly the breaking rows (and none for a correct output)."""
from __future__ import annotations

import pytest

from pipelines.cluster.config import ClusterParams
from pipelines.cluster.stage import expectations as cluster_expectations
from pipelines.containment.config import ContainmentParams
from pipelines.containment.stage import expectations as containment_expectations
from pipelines.semdedup.stage import orphan_duplicates
from pipelines.tldr.stage import quota_violations

pytestmark = pytest.mark.spark


def test_tldr_quota_violations_are_the_clusters_off_their_quota(spark):
    # ratio 0.3: cluster 0 has 10 sampled members and keeps ceil(3.0) = 3 (right); cluster 1 keeps 4 of 10
    # (wrong); cluster 2's 5 members keep 2 = ceil(1.5) (right) and its pre-filtered row does not count
    rows = ([(i, 0, i < 3, None if i < 3 else "not_sampled") for i in range(10)]
            + [(100 + i, 1, i < 4, None if i < 4 else "not_sampled") for i in range(10)]
            + [(200 + i, 2, i < 2, None if i < 2 else "not_sampled") for i in range(5)]
            + [(299, 2, False, "prefilter_low_similarity")])
    selected = spark.createDataFrame(rows, "id long, cluster int, selected boolean, reason string")
    assert [r["cluster"] for r in quota_violations(selected, 0.3).collect()] == [1]
    # 0.1 x 30 keeps exactly 3: float arithmetic (0.1 * 30 = 3.0000000000000004) would ask for 4
    exact = spark.createDataFrame([(i, 0, i < 3, None if i < 3 else "not_sampled") for i in range(30)],
                                  "id long, cluster int, selected boolean, reason string")
    assert quota_violations(exact, 0.1).count() == 0


def test_semdedup_orphans_are_duplicates_without_a_kept_representative_in_their_cluster(spark):
    kept = spark.createDataFrame([(1, 0, 0.1), (5, 1, 0.2)], "id long, cluster int, distance double")
    dups = spark.createDataFrame([(2, 1, 0.99, 0, 1, 0.05), (3, 2, 0.98, 0, 5, 0.05), (4, 9, 0.97, 1, 9, 0.05)],
                                 "id long, matched_id long, similarity double, cluster int, "
                                 "representative_id long, epsilon double")
    # 3 points at kept row 5 of another cluster, 4 at a row that was never kept
    assert sorted(r["id"] for r in orphan_duplicates({"kept": kept, "duplicates": dups}).collect()) == [3, 4]


def test_cluster_sizes_must_match_the_assignments(spark):
    assignments = spark.createDataFrame([(1, 0, 0.1), (2, 0, 0.2), (3, 1, 0.3)], "id long, cluster int, distance double")
    centroids = spark.createDataFrame([(0, [0.0], 2), (1, [1.0], 2), (2, [2.0], 0)],
                                      "cluster int, vector array<float>, size long")
    checks = cluster_expectations(ClusterParams(num_clusters=3), {"assignments": assignments, "centroids": centroids},
                                  {"rows.assignments": 3})
    mismatched, _ = checks["centroids.size_mismatches"]
    assert [r["cluster"] for r in mismatched.collect()] == [1]  # cluster 1 says 2 members, 1 is assigned


def test_containment_every_deletion_has_exactly_its_recipe(spark):
    plan = spark.createDataFrame([("t/a", "keep", None), ("t/b", "delete", "t/a"), ("t/c", "delete", "t/a")],
                                 "table_id string, action string, parent string")
    recipes = spark.createDataFrame([("t/b",), ("t/z",)], "table_id string")
    checks = containment_expectations(ContainmentParams(), {"plan": plan, "recipes": recipes}, {})
    unmatched, _ = checks["recipes.unmatched_deletions"]
    assert sorted(r["table_id"] for r in unmatched.collect()) == ["t/c", "t/z"]
