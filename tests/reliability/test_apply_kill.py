"""SIGKILL ``containment apply`` and ``containment restore`` before *every* durable step they take
(each rename, folder creation, journal write and trash-log commit), then run the documented recovery:
every table must end byte-identical to before (apply undone) or wholly in the trash with its log row
(apply finished), and a restore must end with the table back bit for bit or still safely in the trash.

The steps are not chosen by hand: an uninterrupted apply and restore run first, in this process, and
their step trace (``jobs.containment_journal.trace``) is the list of kill points. ``make test`` kills a
representative subset (marked below); ``make test-reliability`` kills at every step (``exhaustive``).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import jobs.containment as job
from jobs import containment_apply as ops
from jobs import containment_journal as journal
from pipelines.core import lakehouse
from pipelines.core.tables import TableRef
from tests.run_cli import cli

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.kill]

CHILDREN = ("sales/eu", "sales/eu_ids.csv")
# the subset `make test` kills at: between the two moves and before the log commit (apply), before the
# log commit with the table back in place (restore)
REPRESENTATIVE = {"apply": ("rename sales/eu_ids.csv", "log"), "restore": ("log",)}


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory):
    """A lake of one Delta parent, a Delta child (a filter of it) and a CSV child (a projection), planned."""
    lh = tmp_path_factory.mktemp("apply_kill") / "lakehouse"
    lake = lh / "demo" / "lake"
    parent = spark.createDataFrame([(i, f"r{i % 4}", float(i) / 3) for i in range(200)], "id bigint, grp string, x double")
    lakehouse.write_table(parent, TableRef(path=str(lake / "sales" / "all")), "setup")
    lakehouse.write_table(parent.where("grp = 'r1'"), TableRef(path=str(lake / "sales" / "eu")), "setup")
    (lake / "sales" / "eu_ids.csv").write_text("id,grp\n" + "".join(f"{i},r{i % 4}\n" for i in range(0, 200, 7)))
    # a small CSV is worth deleting only when it is (almost) never read
    job.run(spark, {"quality": {"enabled": False}, "params": {"costs": {"sales/eu_ids.csv": {"access_per_month": 1e-6}}}},
            lakehouse_root=str(lh))
    plan = str(lh / "containment" / "plan")
    deleted = sorted(r["table_id"] for r in lakehouse.read_table(spark, TableRef(path=plan))
                     .where("action = 'delete'").collect())
    assert deleted == sorted(CHILDREN)
    before = {t: journal.digest(lake / t) for t in (*CHILDREN, "sales/all")}
    # uninterrupted applies and restores (the second round's, as every later one, finds the journal
    # folder made): their step traces are the kill points
    for _ in range(2):
        journal.trace.clear()
        ops.apply(spark, plan, confirm=True)
        apply_steps = list(journal.trace)
        journal.trace.clear()
        ops.restore(spark, str(lake), "sales/eu")
        restore_steps = [_generic(s) for s in journal.trace]
        ops.restore(spark, str(lake), "sales/eu_ids.csv")
        assert {t: journal.digest(lake / t) for t in before} == before
    apply_steps = [_generic(s) for s in apply_steps]
    return {"lh": lh, "lake": lake, "plan": plan, "before": before, "steps": {"apply": apply_steps, "restore": restore_steps}}


def _deleted_now(spark, lake: Path) -> dict[str, str]:
    """table id -> latest action in the trash log."""
    rows = lakehouse.read_table(spark, TableRef(path=str(lake / journal.TRASH / "log"))).orderBy("at").collect()
    return {r["table_id"]: r["action"] for r in rows}


def _assert_whole(spark, small_lake, *, deleted: set[str]) -> None:
    """Every table either at its place with its original bytes, or (``deleted``) only in the trash, its
    bytes intact, with a 'deleted' log row; no journal left pending."""
    lake, before = small_lake["lake"], small_lake["before"]
    assert journal.pending(lake) == []
    actions = _deleted_now(spark, lake)
    for t, d in before.items():
        if t in deleted:
            assert not (lake / t).exists(), t
            assert actions[t] == "deleted", t
            trashed = sorted((lake / journal.TRASH).glob(f"apply-*/{t}"), key=lambda p: p.stat().st_mtime_ns)
            assert trashed and journal.digest(trashed[-1]) == d, t
        else:
            assert journal.digest(lake / t) == d, t
            assert actions.get(t, "restored") == "restored", t


STEPS = {"apply": ["write apply.json.tmp", "rename apply.json.tmp", "mkdir sales", "rename sales/eu",
                   "rename sales/eu_ids.csv", "log", "write apply.json.tmp", "rename apply.json.tmp"],
         "restore": ["write restore.json.tmp", "rename restore.json.tmp", "rename sales/eu", "log",
                     "write restore.json.tmp", "rename restore.json.tmp"]}


def _cases(op: str) -> list:
    """One case per durable step of ``op`` on this lake (the test checks them against the real trace)."""
    names = STEPS[op]
    return [pytest.param(op, i + 1, name, id=f"{op}@{i + 1}:{name.replace(' ', '_')}",
                         marks=() if name in REPRESENTATIVE[op] and names.index(name) == i else pytest.mark.exhaustive)
            for i, name in enumerate(names)]


def _generic(step_name: str) -> str:
    """A step's name without its operation id (``write apply-2026...json.tmp`` -> ``write apply.json.tmp``)."""
    return re.sub(r"(apply|restore)-\d{8}T\d{6}-[0-9a-f]{8}", r"\1", step_name)


@pytest.mark.parametrize("op, n, name", _cases("apply") + _cases("restore"))
def test_kill_at_every_step_then_recover(spark, small_lake, op, n, name):
    lake, plan = small_lake["lake"], small_lake["plan"]
    steps = small_lake["steps"][op]
    assert steps == STEPS[op]  # the protocol's steps are the ones this test kills at
    if op == "restore":
        ops.apply(spark, plan, confirm=True)
        args = ("containment", "restore", "sales/eu", "--lake", str(lake))
    else:
        args = ("containment", "apply", "--plan", plan, "--confirm")
    killed = cli(*args, env={"LAKESIEVE_KILL_AT_STEP": str(n)})
    assert killed.returncode == -9, killed.stdout[-1000:] + killed.stderr[-2000:]

    ops.recover(spark, lake)  # what `lakesieve containment recover`, or the next apply or restore, runs first
    if op == "apply":
        finished = n > steps.index("log") + 1  # killed after the log commit: the apply had happened
        _assert_whole(spark, small_lake, deleted=set(CHILDREN) if finished else set())
        for t in CHILDREN if finished else ():
            ops.restore(spark, str(lake), t)
    else:
        finished = n > steps.index("rename sales/eu") + 1  # the table was back before the kill: recovery finishes
        _assert_whole(spark, small_lake, deleted={"sales/eu_ids.csv"} | (set() if finished else {"sales/eu"}))
        for t in ("sales/eu_ids.csv",) if finished else CHILDREN:
            ops.restore(spark, str(lake), t)
    _assert_whole(spark, small_lake, deleted=set())


def test_a_commit_between_verification_and_the_move_is_never_lost(spark, small_lake, monkeypatch):
    """The check-then-act window: a writer commits to a child after apply verified it. The move must
    notice (listing before and after the move) and put everything back; nothing is lost."""
    lake, plan = small_lake["lake"], small_lake["plan"]
    real_move = journal.move
    calls = []

    def commit_then_move(m):
        if m.table_id == "sales/eu_ids.csv" and not calls:
            calls.append(m.table_id)
            with open(lake / "sales" / "eu_ids.csv", "a") as fh:
                fh.write("999,r3\n")  # lands after verification, right before the move
        return real_move(m)

    monkeypatch.setattr(journal, "move", commit_then_move)
    from pipelines.core.errors import SafetyError

    with pytest.raises(SafetyError, match="'sales/eu_ids.csv' changed while being moved"):
        ops.apply(spark, plan, confirm=True)
    assert (lake / "sales" / "eu").is_dir() and (lake / "sales" / "eu_ids.csv").read_text().endswith("999,r3\n")
    assert journal.pending(lake) == []
    # (the last test of the module: the CSV child now differs from the plan)
