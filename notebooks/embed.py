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
from jobs import registry, runner
from pipelines.core import lakehouse

STAGE = stage_job.STAGE

# COMMAND ----------

dbutils.widgets.text("config", "", "config YAML (empty: the demo config)")
dbutils.widgets.text("lakehouse", "/Volumes/main/lakesieve/lakehouse", "lakehouse root")
dbutils.widgets.text("overrides", "", "overrides: key=value; key=value")
dbutils.widgets.dropdown("force", "false", ["false", "true"], "rerun even if the ledger has this run")

config = dbutils.widgets.get("config") or str(registry.config_path(registry.entry(STAGE.name)))
lakehouse_root = dbutils.widgets.get("lakehouse")
overrides = [item.strip() for item in dbutils.widgets.get("overrides").split(";") if item.strip()]
force = dbutils.widgets.get("force") == "true"

# COMMAND ----------

result = stage_job.run(spark, config, overrides=overrides, lakehouse_root=lakehouse_root, force=force)
print(f"{result.stage}: {result.status} (run {result.run_id}, {result.seconds:.1f}s)")
for name, value in sorted(result.metrics.items()):
    print(f"  {name} = {value}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Outputs
# MAGIC Each output at the version this run wrote (or, for a skipped run, the version the earlier run wrote).

# COMMAND ----------

spec = runner.build_spec(STAGE, config, overrides=overrides, lakehouse_root=lakehouse_root)
for output in STAGE.outputs:
    ref, version = spec.outputs[output.name], result.output_versions[output.name]
    print(f"{output.name}: {ref.label} v{version}  {output.doc}")
    display(lakehouse.read_version(spark, ref, version))
