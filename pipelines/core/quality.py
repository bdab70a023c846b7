"""Quality: Great Expectations 1.x suites run on each output after it is written.

A stage declares, per output table, a list of GX expectation objects (built from its config and
the row counts it knows). :func:`validate_outputs` runs them on the Spark DataFrames through an
ephemeral GX context, builds Data Docs under ``<lakehouse>/_lakesieve/data_docs`` and returns one
row per expectation for the ``_lakesieve/quality`` table.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class ExpectationResult:
    table: str
    expectation: str
    kwargs: str
    success: bool
    observed: str


def gx_expectations():
    """The ``great_expectations.expectations`` module (imported lazily: it takes seconds)."""
    import great_expectations.expectations as gxe

    return gxe


def validate_outputs(suites: Mapping[str, tuple[object, Sequence[object]]], *, stage: str,
                     docs_dir: str | Path | None) -> list[ExpectationResult]:
    """Validate ``{table: (dataframe, [expectation, ...])}``; write Data Docs to ``docs_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    results: list[ExpectationResult] = []
    if not any(exps for _, exps in suites.values()):
        return results
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        ctx.add_data_docs_site(site_name="lakesieve", site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(Path(docs_dir).absolute())},
        })
    source = ctx.data_sources.add_spark(f"lakesieve_{stage}")
    for table, (df, expectations) in suites.items():
        if not expectations:
            continue
        asset = source.add_dataframe_asset(table)
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"{stage}.{table}"))
        for exp in expectations:
            suite.add_expectation(exp)
        vdef = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{stage}.{table}", data=batch_def, suite=suite))
        actions = [gx.checkpoint.UpdateDataDocsAction(name="docs")] if docs_dir is not None else []
        checkpoint = ctx.checkpoints.add(gx.Checkpoint(name=f"{stage}.{table}", validation_definitions=[vdef],
                                                       actions=actions, result_format={"result_format": "SUMMARY"}))
        run = checkpoint.run(batch_parameters={"dataframe": df})
        for vres in run.run_results.values():
            for r in vres.results:
                cfg = r.expectation_config
                observed = r.result.get("observed_value")
                if observed is None and "unexpected_count" in r.result:
                    observed = f"unexpected_count={r.result['unexpected_count']}"
                kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
                results.append(ExpectationResult(table, cfg.type, json.dumps(kwargs, sort_keys=True, default=str),
                                                 bool(r.success), json.dumps(observed, default=str)))
    return results
