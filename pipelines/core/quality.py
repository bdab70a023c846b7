"""Quality: Great Expectations 1.x suites run on each output after it is written.

A stage declares, per output table, a list of GX expectation objects (built from its config and
the row counts it knows). :func:`validate_outputs` runs them on the Spark DataFrames and returns one
row per expectation for the ``_lakesieve/quality`` table. With a ``docs_dir`` it also publishes them to
the lakehouse's Data Docs site (``<lakehouse>/_lakesieve/data_docs``):

- **accumulated**: the suites and validation results are kept on disk next to the site
  (``_lakesieve/data_docs_store``), so the index lists every run of every stage (newest
  :data:`DOCS_INDEX_LIMIT` validations), not only the last stage's;
- **named by the run**: each validation's run name is the lakesieve run id (the ledger's, the quality
  table's), so a page leads back to its run;
- **one build per run**: only this run's pages and the index are rendered, once for all its tables
  (GX's own ``UpdateDataDocsAction`` rebuilds the site once per table: most of a small run's quality cost);
- **offline**: the pages' CDN stylesheets, scripts and fonts are served from the site itself
  (``static/vendor``, from :data:`ASSETS`, see its README), so they render without network.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

ASSETS = Path(__file__).resolve().parent / "datadocs_assets"
DOCS_INDEX_LIMIT = 500  # validations listed on the index page (newest first); every page stays on disk
SITE = "lakesieve"

# CDN address (as GX's templates write it) -> the vendored file under ASSETS; None: drop the link (a
# stylesheet that is not served anywhere these machines reach and that only themes the page)
_CDN = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "font-awesome/css/all.min.css",
}
_GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_CDN_LINK = re.compile(r'(src|href)="(https://[^"]+)"')


@dataclass(frozen=True)
class ExpectationResult:
    table: str
    expectation: str
    kwargs: str
    success: bool
    observed: str


_preload: threading.Thread | None = None


def preload_in_background() -> None:
    """Start importing Great Expectations on a daemon thread (4-7 s of imports on this machine: GX, altair,
    pyspark.ml, ...) while the run transforms its inputs (started once it has claimed its outputs), when
    the main thread mostly waits on the JVM; every use of GX here waits for it first (:func:`_gx_ready`). Profiled on a cold ``lakesieve run
    minhash``: the import was 7.0 s of its quality step. ``LAKESIEVE_PRELOAD_GX=0`` turns it off. A failed
    import in the thread is only logged: the first use imports it again and raises there."""
    global _preload
    if _preload is not None or "great_expectations" in sys.modules or os.environ.get("LAKESIEVE_PRELOAD_GX") == "0":
        return
    _preload = threading.Thread(target=_import_gx, name="lakesieve-gx-import", daemon=True)
    _preload.start()


def _import_gx() -> None:
    try:
        import great_expectations.expectations  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - raised again, with its cause, where GX is used
        import logging

        logging.getLogger("lakesieve.quality").debug("background import of great_expectations failed: %s", exc)


def _gx_ready() -> None:
    """Wait for :func:`preload_in_background`'s import, so GX is never imported by two threads at once."""
    if _preload is not None:
        _preload.join()


def gx_expectations():
    """The ``great_expectations.expectations`` module (imported lazily: it takes seconds)."""
    _gx_ready()
    import great_expectations.expectations as gxe

    return gxe


def where_equal(column: str, value):
    """A GX row condition ``column == value`` as a Condition object: the same check on GX's Spark and
    pandas engines (a string condition is written in one engine's syntax)."""
    _gx_ready()
    from great_expectations.expectations.row_conditions import Column

    return Column(column) == value


def expectation_columns(expectations: Sequence[object]) -> list[str] | None:
    """The columns ``expectations`` read (their ``column`` and the columns of their row conditions), in
    order; None when one has a condition written as an engine's string (only that engine can run it)."""
    names: list[str] = []

    def condition_columns(cond) -> bool:
        if cond is None:
            return True
        if isinstance(cond, str):
            return not cond.strip()
        if hasattr(cond, "conditions"):  # and / or
            return all(condition_columns(c) for c in cond.conditions)
        if hasattr(cond, "column"):  # a comparison or a nullity test of one column
            names.append(cond.column.name)
            return True
        return False  # a string condition (GX wraps it in a PassThroughCondition): that engine's syntax

    for e in expectations:
        if getattr(e, "column", None):
            names.append(e.column)
        if not condition_columns(getattr(e, "row_condition", None)):
            return None
    return list(dict.fromkeys(names))


def _context(docs_dir: Path | None):
    """An ephemeral GX context; with ``docs_dir``, its suites and validation results on disk beside the
    Data Docs site (so the site accumulates across runs) and the site itself."""
    _gx_ready()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults())
    if docs_dir is not None:
        store = docs_dir.parent / "data_docs_store"
        for name, kind in (("expectations_store", "ExpectationsStore"),
                           ("validation_results_store", "ValidationResultsStore")):
            config.stores[name] = {"class_name": kind, "store_backend": {
                "class_name": "TupleFilesystemStoreBackend", "base_directory": str(store / name)}}
        config.data_docs_sites = {SITE: {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                   "validation_results_limit": DOCS_INDEX_LIMIT},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        }}
    ctx = gx.get_context(project_config=config, mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def serve_assets_locally(docs_dir: Path, pages: Sequence[Path]) -> int:
    """Copy the vendored assets to ``static/vendor`` under the site and point the CDN links of ``pages``
    (this run's pages and the index) at them; return the number of pages rewritten. Each page is swapped
    in whole, under a temporary name of its own (two runs may rewrite the index at once)."""
    vendor = docs_dir / "static" / "vendor"
    shutil.copytree(ASSETS, vendor, dirs_exist_ok=True)  # ~1 MB, as GX copies its own static files per build
    rewritten = 0
    for page in pages:
        try:
            text = page.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        up = os.path.relpath(vendor, page.parent).replace(os.sep, "/")

        def local(m: re.Match, up: str = up) -> str:
            url = m.group(2)
            if url.startswith(_GX_IMAGES):  # GX's own logo, which its site also has under static/images
                return f'{m.group(1)}="{up}/../images/{url[len(_GX_IMAGES):].split("?")[0]}"'
            if url not in _CDN:
                return m.group(0)
            return f'{m.group(1)}="{up}/{_CDN[url]}"'

        new = _CDN_LINK.sub(local, text)
        if new != text:
            fd, tmp = tempfile.mkstemp(prefix=page.name + ".", suffix=".tmp", dir=page.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(new)
            os.replace(tmp, page)  # a reader never sees half a page
            rewritten += 1
    return rewritten


def run_pages(docs_dir: Path, run_name: str, suites: Sequence[str]) -> list[Path]:
    """The pages a build for ``run_name`` writes: the index, the suites' pages and the run's validations
    (GX's site layout: ``expectations/<suite, dots as folders>.html``,
    ``validations/<suite>/<run name>/<run time>/<batch>.html``)."""
    pages = [docs_dir / "index.html"]
    pages += [docs_dir / "expectations" / (name.replace(".", "/") + ".html") for name in suites]
    for name in suites:
        pages += sorted((docs_dir / "validations" / name.replace(".", "/") / run_name).glob("*/*.html"))
    return pages


def engine_of(df) -> str:
    """``pandas`` for a pandas DataFrame, ``spark`` for a Spark one (classic or Connect)."""
    return "pandas" if type(df).__module__.startswith("pandas") else "spark"


def _plain(value):
    """JSON for what GX observed: numpy scalars (the pandas engine's) as the numbers they are, so a
    result reads the same from either engine; anything else as its text."""
    return value.item() if hasattr(value, "item") and callable(value.item) else str(value)


def validate_outputs(suites: Mapping[str, tuple[object, Sequence[object]]], *, stage: str,
                     docs_dir: str | Path | None, run_id: str | None = None) -> list[ExpectationResult]:
    """Validate ``{table: (dataframe, [expectation, ...])}``, each frame a Spark or a pandas DataFrame
    (GX's engine for it); publish them to the Data Docs site in ``docs_dir`` (module docstring) under
    the run name ``run_id``."""
    _gx_ready()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    from pipelines.core.local_frames import made_frame

    results: list[ExpectationResult] = []
    if not any(exps for _, exps in suites.values()):
        return results
    docs = Path(docs_dir).absolute() if docs_dir is not None else None
    ctx = _context(docs)
    sources: dict[str, object] = {}
    gx_run = RunIdentifier(run_name=run_id or f"{stage}-unnamed", run_time=datetime.now(timezone.utc))
    names = []
    for table, (df, expectations) in suites.items():
        if not expectations:
            continue
        df = made_frame(df)  # a frame the runner kept as Arrow goes to GX's Spark engine as the DataFrame it makes
        engine = engine_of(df)
        if engine not in sources:  # GX's Spark or pandas engine, as the frame is (the runner's choice)
            add = ctx.data_sources.add_pandas if engine == "pandas" else ctx.data_sources.add_spark
            sources[engine] = add(f"lakesieve_{stage}" + ("_local" if engine == "pandas" else ""))
        asset = sources[engine].add_dataframe_asset(table)
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add_or_update(gx.ExpectationSuite(name=f"{stage}.{table}", expectations=list(expectations)))
        names.append(suite.name)
        vdef = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{stage}.{table}", data=batch_def, suite=suite))
        vres = vdef.run(batch_parameters={"dataframe": df}, result_format={"result_format": "SUMMARY"}, run_id=gx_run)
        for r in vres.results:
            cfg = r.expectation_config
            observed = r.result.get("observed_value")
            if observed is None and "unexpected_count" in r.result:
                observed = f"unexpected_count={r.result['unexpected_count']}"
            kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
            results.append(ExpectationResult(table, cfg.type, json.dumps(kwargs, sort_keys=True, default=_plain),
                                             bool(r.success), json.dumps(observed, default=_plain)))
    if docs is not None and names:
        mine = [k for k in ctx.validation_results_store.list_keys() if k.run_id.run_name == gx_run.run_name]
        ctx.build_data_docs(site_names=[SITE],
                            resource_identifiers=mine + [ExpectationSuiteIdentifier(name=n) for n in names])
        serve_assets_locally(docs, run_pages(docs, gx_run.run_name, names))
    return results
