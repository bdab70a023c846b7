# Databricks notebook source
# MAGIC %md
# MAGIC # cluster: FAISS k-means on embeddings, every row assigned on the executors
# MAGIC
# MAGIC Trains FAISS k-means (GPU when `faiss.get_num_gpus() > 0`) on a bounded seeded sample of `embeddings`
# MAGIC (`max_train_samples`, default 262,144 rows), then assigns every row to its nearest centroid on the
# MAGIC executors. Outputs `assignments` (id, cluster, distance), `centroids` (cluster, vector, size) and
# MAGIC `rejected` (id, reason). See docs/cluster.md.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/<stage>.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `num_clusters=3000; spherical=true; quality.enabled=false` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import cluster as stage_job
from jobs import notebook

STAGE = stage_job.STAGE

# COMMAND ----------

args = notebook.widgets(dbutils, STAGE)

# COMMAND ----------

result = notebook.run(spark, stage_job, args)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Outputs
# MAGIC Each output at the version this run wrote (or, for a skipped run, the version the earlier run wrote).

# COMMAND ----------

outputs = notebook.display_outputs(spark, STAGE, args, result, display)
