# Databricks notebook source
# MAGIC %md
# MAGIC # embed: images or texts -> embedding vectors (open_clip, sentence-transformers)
# MAGIC
# MAGIC Encodes the `items` table's images (bytes or paths) or texts in batches on the executors; the model is
# MAGIC loaded once per executor Python process, on the GPU when there is one. Outputs `embeddings` (id, model,
# MAGIC vector, norm) and `rejected` (id, reason). The demo config uses a tiny open_clip with random weights: for
# MAGIC real use set `pretrained=<a local checkpoint>` and drop `random_weights`. See docs/embed.md.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/<stage>.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `encoder=sentence_transformers; model=all-MiniLM-L6-v2; modality=text; random_weights=false` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import embed as stage_job
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
