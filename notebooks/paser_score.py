# Databricks notebook source
# MAGIC %md
# MAGIC # paser-score: per-sample degradation of a pruned LLM (PASER, He et al., 2025)
# MAGIC
# MAGIC For every instruction sample, the mean token Jensen-Shannon divergence between the original and the
# MAGIC pruned model's next-token distributions over the response (PASER §3.2); GPU in each worker when the
# MAGIC cluster has one. Models are local folders (`inputs.original_model`, optional `inputs.pruned_model`; without
# MAGIC one the original is pruned in every worker, `prune_method` wanda or magnitude at `prune_ratio`). Outputs
# MAGIC `scores` (id, jsd, tokens) and `rejected` (id, reason). Then run `notebooks/paser.py`. See docs/paser.md.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/paser_score.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `prune_ratio=0.3; inputs.pruned_model=/Volumes/.../pruned` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config (a changed model folder reruns anyway) |

# COMMAND ----------

from jobs import notebook
from jobs import paser_score as stage_job

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
