# Databricks notebook source
# MAGIC %md
# MAGIC # lakesieve: overview
# MAGIC
# MAGIC The stages, the run ledger and the quality results of one lakehouse, and the HTML report
# MAGIC (`lakesieve report`). Each stage has its own notebook beside this one (`notebooks/<module>.py`);
# MAGIC docs/running.md shows the other ways to run (CLI, spark-submit, Airflow, the Databricks bundle).

# COMMAND ----------

dbutils.widgets.text("lakehouse", "/Volumes/main/lakesieve/lakehouse", "lakehouse root")
lakehouse_root = dbutils.widgets.get("lakehouse")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Stages
# MAGIC From the one registry (jobs/registry.py): what runs after what, the Airflow schedule, and whether the
# MAGIC stage is built in this version.

# COMMAND ----------

from jobs import registry

stages = spark.createDataFrame(
    [(e.name, ", ".join(e.upstream) or "-", e.schedule, registry.load_stage(e.name).description)
     for e in registry.STAGES],
    "stage string, after string, schedule string, description string")
display(stages)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Runs
# MAGIC The newest state of each run in `_lakesieve/runs`, newest first, with its quality result.

# COMMAND ----------

from pyspark.sql import functions as F

from pipelines.core import ledger

runs = (ledger.latest_states(spark, lakehouse_root)
        .select("run_id", "stage", "status", "quality", "started_at",
                (F.col("ended_at").cast("double") - F.col("started_at").cast("double")).alias("seconds"),
                F.substring_index(F.col("error"), "\n", 1).alias("error")))
display(runs)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Quality
# MAGIC Expectations checked per run and table (`_lakesieve/quality`); the Data Docs site is under
# MAGIC `_lakesieve/data_docs/index.html`.

# COMMAND ----------

from jobs import runner
from pipelines.core import lakehouse

quality_ref = runner.quality_ref(lakehouse_root)
if lakehouse.table_exists(spark, quality_ref):
    quality = (lakehouse.read_table(spark, quality_ref)
               .groupBy("run_id", "stage", "table")
               .agg(F.count("*").alias("expectations"), F.sum(F.col("success").cast("int")).alias("passed"))
               .orderBy("run_id", "table"))
    display(quality)
else:
    print("no quality results yet: runs with quality.enabled write them")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Report
# MAGIC One static HTML page summarising the latest successful run of each stage.

# COMMAND ----------

from jobs import report

report_path = report.write_report(lakehouse_root, spark=spark)
print(f"report: {report_path}")
