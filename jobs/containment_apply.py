"""``lakesieve containment apply``, ``restore`` and ``recover``: the only code that moves tables.

Safety rules (docs/containment.md, "Safety rules"):

* nothing outside the lake root is touched, and nothing through a symlink: every table, parent and
  trash path must lie under the root by its own name (:func:`jobs.containment_journal.real_under`);
  the lake root is derived from each recipe (path minus table id) and must agree;
* ``apply`` first re-verifies *every* planned deletion against the current tables — the child and
  its parent unchanged since the plan (Delta version / file fingerprint), the rebuild from the recipe
  equal to the child bit for bit (except-all both ways empty, exact-bits checksum equal) — and moves
  nothing unless all pass; without ``--confirm`` it stops after the check (a dry run);
* a deletion is a journaled *move* to ``<lake root>/_lakesieve_trash/<apply id>/<table id>`` (soft
  delete), recorded with its full recipe in the Delta table ``<lake root>/_lakesieve_trash/log``;
  the journal (:mod:`jobs.containment_journal`) lets ``recover`` finish or undo any interrupted step;
* ``restore`` moves the trashed copy back (history kept) once its bytes equal the digest journaled at
  apply, or with ``--from-recipe`` rebuilds it into a staging folder, checks the recipe's checksum, and
  moves that into place; either way nothing at the original path is ever overwritten.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import functions as F

from jobs import containment_journal as journal
from jobs.summary import format_table
from pipelines.containment.recipes import checksums, quote_identifier, rebuild
from pipelines.containment.rowhash import checksum_version
from pipelines.containment.verify import compare_pairs
from pipelines.core import lakehouse
from pipelines.core.errors import DataError, InputNotFoundError, SafetyError
from pipelines.core.tables import TableRef

TRASH = journal.TRASH
LOG_DDL = ("apply_id string, table_id string, action string, original_path string, trash_path string, "
           "format string, recipe_json string, checksum string, at timestamp")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def lake_root_of(recipe: dict) -> Path:
    """The lake root a recipe's table lives under: its path minus its table id."""
    path, tid = str(recipe["path"]), str(recipe["table_id"])
    if not path.endswith(tid) or ".." in Path(tid).parts:
        raise SafetyError(f"recipe for '{tid}': path '{path}' does not end with its table id")
    return Path(path[: len(path) - len(tid)].rstrip("/") or "/")


def _fingerprint(spark, fmt: str, path: str) -> str:
    ref = TableRef(path=path)
    if fmt == "delta":
        v = lakehouse.table_version(spark, ref)
        return f"delta:v{v}"
    return lakehouse.input_fingerprint(spark, ref)


def _read(spark, fmt: str, path: str, schema=None, version: int | None = None):
    if fmt not in ("delta", "parquet", "csv"):
        raise SafetyError(f"format '{fmt}' cannot be applied or restored (catalog tables are never moved)")
    return lakehouse.read_table(spark, TableRef(path=path), fmt, schema=schema, version=version)


def _child_schema(recipe: dict):
    from pyspark.sql import types as T

    return T.StructType.fromJson(json.loads(recipe["child_schema"]))


def _rebuilt(spark, recipe: dict, *, check_parent_current: bool):
    """The child rebuilt from its recipe; refuses when the parent is missing or changed."""
    root = lake_root_of(recipe)
    ppath = Path(recipe["parent_path"])
    journal.real_under(root, ppath, f"parent of '{recipe['table_id']}'")
    if not ppath.exists():
        raise SafetyError(f"parent '{recipe['parent']}' of '{recipe['table_id']}' is missing at {ppath} "
                          "(restore the parent first)")
    if check_parent_current or recipe["parent_format"] != "delta":
        now = _fingerprint(spark, recipe["parent_format"], str(ppath))
        if now != recipe["parent_fingerprint"]:
            raise SafetyError(f"parent '{recipe['parent']}' of '{recipe['table_id']}' changed since the plan "
                              f"({recipe['parent_fingerprint']} then, {now} now); rerun the containment stage")
    parent = _read(spark, recipe["parent_format"], str(ppath), version=recipe["parent_version"])
    keys = None
    if recipe["kind"] == "row_keys":
        keys = spark.createDataFrame([(int(k["row_hash"]), int(k["count"])) for k in recipe["row_keys"] or []],
                                     "row_hash bigint, count bigint")
    out = rebuild(parent, recipe["columns"], recipe["parent_columns"], recipe["child_types"], recipe["kind"],
                  recipe["filter_predicate"], keys, checksum_version(recipe["checksum"]))
    # the child's own column order (recipes list columns in canonical order)
    return out.select(*[F.col(quote_identifier(f.name)) for f in _child_schema(recipe).fields])


def load_recipes(spark, plan_path: str, recipes_path: str | None) -> list[dict]:
    """The recipes of the plan's deletions (each as a dict); every deletion needs one."""
    plan_ref = TableRef(path=plan_path)
    if not lakehouse.table_exists(spark, plan_ref):
        raise InputNotFoundError(f"plan table '{plan_path}' (--plan) does not exist")
    rec_path = recipes_path or str(Path(plan_path).parent / "recipes")
    rec_ref = TableRef(path=rec_path)
    if not lakehouse.table_exists(spark, rec_ref):
        raise InputNotFoundError(f"recipes table '{rec_path}' (--recipes) does not exist")
    deletions = [r["table_id"] for r in lakehouse.read_table(spark, plan_ref).where(F.col("action") == "delete")
                 .select("table_id").collect()]  # bounded: one row per planned deletion
    recipes = {r["table_id"]: r.asDict(recursive=True) for r in lakehouse.read_table(spark, rec_ref)
               .where(F.col("table_id").isin(deletions)).collect()}
    missing = sorted(set(deletions) - set(recipes))
    if missing:
        raise SafetyError(f"planned deletion '{missing[0]}' has no recipe in '{rec_path}'")
    return [recipes[t] for t in sorted(deletions)]


def verify_recipes(spark, recipes: list[dict]) -> None:
    """Re-verify every recipe now; raise :class:`SafetyError` at the first that does not hold."""
    deleting = {r["table_id"] for r in recipes}
    pairs, frames = [], {}
    for r in recipes:
        root = lake_root_of(r)
        path = Path(r["path"])
        journal.real_under(root, path, f"table '{r['table_id']}'")
        if r["parent"] in deleting:
            raise SafetyError(f"'{r['table_id']}' would be rebuilt from '{r['parent']}', which the same plan deletes")
        if not path.exists():
            raise SafetyError(f"table '{r['table_id']}' is missing at {path}")
        now = _fingerprint(spark, r["format"], str(path))
        if now != r["child_fingerprint"]:
            raise SafetyError(f"table '{r['table_id']}' changed since the plan ({r['child_fingerprint']} then, {now} now)")
        child = _read(spark, r["format"], str(path), _child_schema(r) if r["format"] != "delta" else None)
        child = child.select(*[F.col(quote_identifier(c)) for c in r["columns"]])
        built = _rebuilt(spark, r, check_parent_current=True)
        pairs.append((child, built))
        frames[r["table_id"]] = built
    for r, counts in zip(recipes, compare_pairs(pairs)):
        if counts.child_not_in_parent or counts.parent_not_in_child:
            raise SafetyError(f"'{r['table_id']}' is no longer reproduced by its recipe: {counts.child_not_in_parent} "
                              f"rows missing, {counts.parent_not_in_child} extra")
    sums = checksums(frames, {r["table_id"]: checksum_version(r["checksum"]) for r in recipes})
    for r in recipes:
        if sums[r["table_id"]][1] != r["checksum"]:
            raise SafetyError(f"'{r['table_id']}': checksum of the rebuild {sums[r['table_id']][1]} != recipe {r['checksum']}")


def _log_ref(root: Path) -> TableRef:
    return TableRef(path=str(journal.trash_dir(root, "log")))


def _log_rows(spark, root: Path, rows: list[list], op_id: str) -> None:
    """Append the trash log rows of one operation (one Delta commit: all of them or none)."""
    journal.step("log")
    stamped = [tuple(r) + (_now(),) for r in rows]
    lakehouse.append_rows(spark.createDataFrame(stamped, LOG_DDL), _log_ref(root), op_id)


def _logged_ops(spark, root: Path) -> set[str]:
    ref = _log_ref(root)
    if not lakehouse.table_exists(spark, ref):
        return set()
    return {r["apply_id"] for r in lakehouse.read_table(spark, ref).select("apply_id").distinct().collect()}


def recover(spark, root: Path, out=sys.stdout) -> list[str]:
    """Finish or undo every interrupted apply or restore under the lake ``root`` (see
    :mod:`jobs.containment_journal`); every apply and restore runs this first."""
    root = Path(root)
    if not journal.pending(root):
        return []
    logged = _logged_ops(spark, root)
    return journal.recover(root, lambda op_id: op_id in logged,
                           lambda entry: _log_rows(spark, root, entry["log_rows"], entry["op_id"]), out)


def _new_id(kind: str) -> str:
    return f"{kind}-{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _planned_move(spark, r: dict, apply_id: str) -> journal.Move:
    """The journal entry of one planned deletion, taken after verification: its bytes (digest) and
    files (listing), and its fingerprint re-checked after both so they belong to the verified version."""
    root = lake_root_of(r)
    src = journal.real_under(root, Path(r["path"]), f"table '{r['table_id']}'")
    before = journal.listing(src)
    move = journal.Move(r["table_id"], str(src), str(journal.trash_dir(root, apply_id, r["table_id"])),
                        r["format"], journal.digest(src), before)
    now = _fingerprint(spark, r["format"], str(src))
    if now != r["child_fingerprint"] or journal.listing(src) != before:
        raise SafetyError(f"table '{r['table_id']}' changed since the plan ({r['child_fingerprint']} then, {now} now)")
    return move


def apply(spark, plan_path: str, recipes_path: str | None = None, *, confirm: bool, out=sys.stdout) -> list[str]:
    """Re-verify the plan, then (with ``confirm``) move every planned deletion to the trash, journaled."""
    recipes = load_recipes(spark, plan_path, recipes_path)
    if not recipes:
        print("containment apply: the plan deletes nothing", file=out)
        return []
    roots = sorted({lake_root_of(r) for r in recipes})
    for root in roots:
        recover(spark, root, out)
    verify_recipes(spark, recipes)
    if not confirm:
        rows = [(r["table_id"], r["parent"], _size(Path(r["path"])), r["kind"]) for r in recipes]
        print(format_table(rows, ("would move", "rebuilt from", "bytes", "recipe")), file=out)
        print(f"containment apply: {len(recipes)} table(s) verified; nothing moved (dry run, add --confirm)", file=out)
        return []
    apply_id = _new_id("apply")
    moved: list[str] = []
    for root in roots:
        mine = [r for r in recipes if lake_root_of(r) == root]
        moves = [_planned_move(spark, r, apply_id) for r in mine]
        rows = [[apply_id, m.table_id, "deleted", m.src, m.dst, m.format, json.dumps(r, default=str), r["checksum"]]
                for m, r in zip(moves, mine)]
        entry = journal.begin(root, "apply", apply_id, moves, log_rows=rows)
        done: list[journal.Move] = []
        try:
            for m in moves:
                journal.move(m)
                done.append(m)
                print(f"moved {m.table_id} -> {m.dst}", file=out)
        except SafetyError:
            journal.undo_moves(done)
            journal.finish(root, entry, "undone")
            raise
        _log_rows(spark, root, rows, apply_id)
        journal.finish(root, entry, "done")
        moved += [m.table_id for m in moves]
    return moved


def _latest_deleted(spark, root: Path, table_id: str) -> dict:
    ref = _log_ref(root)
    if not lakehouse.table_exists(spark, ref):
        raise InputNotFoundError(f"no containment apply was recorded under '{root}'")
    rows = (lakehouse.read_table(spark, ref).where(F.col("table_id") == table_id)
            .orderBy(F.col("at").desc()).limit(1).collect())
    if not rows or rows[0]["action"] != "deleted":
        raise InputNotFoundError(f"table '{table_id}' is not deleted by a containment apply under '{root}'")
    return rows[0].asDict()


def _write(df, fmt: str, dest: Path, partition_by, run_id: str) -> None:
    if fmt == "delta":
        lakehouse.write_table(df, TableRef(path=str(dest)), run_id, partition_by=partition_by or ())
    elif fmt == "parquet":
        df.write.mode("overwrite").partitionBy(*(partition_by or [])).parquet(lakehouse.spark_path(str(dest)))
    else:  # csv: one file, as the original
        tmp = dest.parent / (dest.name + ".parts")
        df.coalesce(1).write.mode("overwrite").option("header", "true").csv(lakehouse.spark_path(str(tmp)))
        part = next(p for p in sorted(tmp.iterdir()) if p.name.startswith("part-") and p.suffix == ".csv")
        os.rename(part, dest)
        shutil.rmtree(tmp)


def _rebuild_into_staging(spark, root: Path, recipe: dict, table: str, rec: dict, restore_id: str) -> tuple[Path, str]:
    """The table rebuilt from its recipe into a staging folder of the trash, its checksum (over exact
    bits, :mod:`pipelines.containment.rowhash`) checked against the recipe's."""
    built = _rebuilt(spark, recipe, check_parent_current=False)
    staging = journal.trash_dir(root, restore_id, Path(recipe["table_id"]).name)
    journal.step("mkdir staging")
    staging.parent.mkdir(parents=True, exist_ok=True)
    journal.step("write staging")
    _write(built, recipe["format"], staging, recipe.get("partition_columns"), restore_id)
    schema = _child_schema(recipe) if recipe["format"] != "delta" else None
    back = _read(spark, recipe["format"], str(staging), schema).select(
        *[F.col(quote_identifier(c)) for c in recipe["columns"]])
    rows, checksum = checksums({"t": back}, {"t": checksum_version(recipe["checksum"])})["t"]
    if checksum != recipe["checksum"]:
        raise DataError(f"restore of '{table}': checksum of the rebuild {checksum} != recipe {recipe['checksum']}; "
                        f"the table stays in the trash at {rec['trash_path']}")
    return staging, checksum


def restore(spark, lake_root: str, table: str, *, from_recipe: bool = False, out=sys.stdout) -> str:
    """Put ``table`` (its id under ``lake_root``) back where it was, verified bit for bit.

    By default the trashed copy itself moves back (its history kept), after its bytes are checked
    against the digest its apply journaled. ``from_recipe`` (or a trashed copy that is gone) rebuilds it
    from its recipe instead, checked by the recipe's exact-bits checksum."""
    root = Path(lake_root)
    if not root.is_dir():
        raise InputNotFoundError(f"lake root '{lake_root}' (--lake) is not a folder")
    recover(spark, root, out)
    rec = _latest_deleted(spark, root, table)
    recipe = json.loads(rec["recipe_json"])
    if lake_root_of(recipe).resolve() != root.resolve():
        raise SafetyError(f"the recipe of '{table}' belongs to lake root '{lake_root_of(recipe)}', not '{root}'")
    root = lake_root_of(recipe)
    original = journal.real_under(root, Path(rec["original_path"]), f"table '{table}'")
    if original.exists() or original.is_symlink():
        raise SafetyError(f"'{original}' exists already; refusing to overwrite it")
    trashed = journal.real_under(root, Path(rec["trash_path"]), f"trashed copy of '{table}'")
    applied = journal.read(root, rec["apply_id"]) or {"moves": []}
    recorded = next((m["digest"] for m in applied["moves"] if m["table_id"] == table), None)
    restore_id = _new_id("restore")
    if not from_recipe and trashed.exists():
        if recorded is None:
            raise SafetyError(f"the apply that deleted '{table}' left no journal with its digest, so the trashed "
                              "copy cannot be verified bit for bit; restore it with --from-recipe")
        now = journal.digest(trashed)
        if now != recorded:
            raise DataError(f"the trashed copy of '{table}' at {trashed} is not the bytes that were deleted "
                            f"({recorded} then, {now} now); restore it with --from-recipe")
        source, checksum, how = trashed, recorded, "moved back from the trash"
    else:
        if not from_recipe:
            print(f"containment restore: the trashed copy of '{table}' is gone; rebuilding from its recipe", file=out)
        source, checksum = _rebuild_into_staging(spark, root, recipe, table, rec, restore_id)
        recorded, how = journal.digest(source), "rebuilt from its recipe"
    m = journal.Move(table, str(source), str(original), recipe["format"], recorded, journal.listing(source))
    rows = [[restore_id, table, "restored", str(original), rec["trash_path"], recipe["format"], rec["recipe_json"],
             checksum]]
    entry = journal.begin(root, "restore", restore_id, [m], log_rows=rows)
    try:
        journal.move(m)
        if journal.digest(original) != m.digest:
            raise DataError(f"restore of '{table}': the bytes at {original} differ from the verified copy")
    except (SafetyError, DataError):
        journal.undo_moves([m] if original.exists() and not source.exists() else [])
        journal.finish(root, entry, "undone")
        raise
    _log_rows(spark, root, rows, restore_id)
    journal.finish(root, entry, "done")
    print(f"restored {table} ({how}; {checksum}) at {original}", file=out)
    return str(original)


# ---- CLI ----------------------------------------------------------------------------------------------

def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def scan_lake(spark, lake: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), out=sys.stdout) -> list:
    """``lakesieve containment scan``: what counts as a table under ``lake`` (format, rows, bytes, and why
    anything is skipped), profiled as the stage would, without running the pipeline or writing anything."""
    from jobs.containment_lake import build_lake

    profiles, _ = build_lake(spark, lake, (), True, include, exclude)
    rows = [(p.table_id, p.format, p.status, "" if p.num_rows is None else p.num_rows,
             "" if p.size_bytes is None else p.size_bytes, p.reason or "") for p in profiles]
    print(format_table(rows, ("table", "format", "status", "rows", "bytes", "reason")), file=out)
    ok = sum(p.ok for p in profiles)
    print(f"containment scan: {ok} table(s) usable, {len(profiles) - ok} skipped under {lake}", file=out)
    return profiles


def _cmd_scan(args) -> int:
    from jobs.cli import _spark
    from pipelines.core.layout import default_lakehouse

    lake = args.lake or str(Path(args.lakehouse or default_lakehouse()) / "demo" / "lake")
    scan_lake(_spark("lakesieve-containment-scan"), lake, tuple(args.include or ()), tuple(args.exclude or ()))
    return 0


def _cmd_apply(args) -> int:
    from jobs.cli import _spark
    from pipelines.core.layout import default_lakehouse

    root = args.lakehouse or default_lakehouse()
    plan = args.plan or str(Path(root) / "containment" / "plan")
    apply(_spark("lakesieve-containment-apply"), plan, args.recipes, confirm=args.confirm)
    return 0


def _cmd_restore(args) -> int:
    from jobs.cli import _spark
    from pipelines.core.layout import default_lakehouse

    lake = args.lake or str(Path(args.lakehouse or default_lakehouse()) / "demo" / "lake")
    restore(_spark("lakesieve-containment-restore"), lake, args.table, from_recipe=args.from_recipe)
    return 0


def _cmd_recover(args) -> int:
    from jobs.cli import _spark
    from pipelines.core.layout import default_lakehouse

    lake = args.lake or str(Path(args.lakehouse or default_lakehouse()) / "demo" / "lake")
    if not Path(lake).is_dir():
        raise InputNotFoundError(f"lake root '{lake}' (--lake) is not a folder")
    if not recover(_spark("lakesieve-containment-recover"), Path(lake)):
        print(f"containment recover: nothing was interrupted under {lake}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("containment", help="containment commands: apply a deletion plan, restore a table")
    sub = p.add_subparsers(dest="containment_command", metavar="COMMAND", required=True)
    a = sub.add_parser("apply", help="re-verify a plan, then move its deletions to the lake's trash (with --confirm)")
    a.add_argument("--plan", help="the plan table (default <lakehouse>/containment/plan)")
    a.add_argument("--recipes", help="the recipes table (default: 'recipes' beside the plan)")
    a.add_argument("--lakehouse", help="lakehouse root (default ./lakehouse)")
    a.add_argument("--confirm", action="store_true", help="really move the tables (without it: verify only)")
    a.set_defaults(func=_cmd_apply)
    r = sub.add_parser("restore", help="put a deleted table back, verified bit for bit")
    r.add_argument("table", help="the table id (its path under the lake root), e.g. marts/orders_eu")
    r.add_argument("--lake", help="the lake root (default <lakehouse>/demo/lake)")
    r.add_argument("--lakehouse", help="lakehouse root (default ./lakehouse)")
    r.add_argument("--from-recipe", action="store_true",
                   help="rebuild from the recipe instead of moving the trashed copy back")
    r.set_defaults(func=_cmd_restore)
    v = sub.add_parser("recover", help="finish or undo an apply or restore that was interrupted (killed, crashed)")
    v.add_argument("--lake", help="the lake root (default <lakehouse>/demo/lake)")
    v.add_argument("--lakehouse", help="lakehouse root (default ./lakehouse)")
    v.set_defaults(func=_cmd_recover)
    s = sub.add_parser("scan", help="list what counts as a table under the lake root (format, rows, why skipped); "
                                    "runs nothing, writes nothing")
    s.add_argument("--lake", help="the lake root (default <lakehouse>/demo/lake)")
    s.add_argument("--lakehouse", help="lakehouse root (default ./lakehouse)")
    s.add_argument("--include", action="append", help="glob over table ids to include (repeatable)")
    s.add_argument("--exclude", action="append", help="glob over table ids to leave out (repeatable)")
    s.set_defaults(func=_cmd_scan)
