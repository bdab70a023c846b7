"""Assemble bench/RESULTS.md from the per-stage figures in bench/results/*.md.

    .venv/bin/python bench/assemble_results.py

Each bench script writes (or its author records) its figures, with the command that produced
them, in bench/results/<stage>.md; this page puts them in pipeline order under one header.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["containment", "containment_real", "minhash", "minhash_real", "cluster", "reduction", "ct_reduce", "paser", "paser_real", "semdedup", "ledger", "fixed_cost", "output_commits", "gpu"]
HEADER = """# lakesieve benchmark results

Every figure is a ratio against a peer measured in the same script (datasketch, raw FAISS, a brute-force
baseline, imagehash, a dense-kernel implementation, random subsets), because these machines are shared and
noisy. Each section gives the command that produced it and the machine's load when it ran. The minhash,
containment, cluster and ct-reduce figures were re-taken on 2026-11-27 on the 2-core development machine
while it was otherwise idle (load average 1-3); sections that still say "load average 25-40" were taken
while seven engineers were building and testing at once: absolute times there are inflated and ratios
against Spark's fixed costs are pessimistic. Where a goal of the issue is not met, the section says so.

Regenerate this page with `.venv/bin/python bench/assemble_results.py`.
"""


def main() -> None:
    parts = [HEADER]
    files = {p.stem: p for p in (HERE / "results").glob("*.md")}
    for name in ORDER + sorted(set(files) - set(ORDER)):
        if name in files:
            parts.append(files[name].read_text().strip())
    (HERE / "RESULTS.md").write_text("\n\n".join(parts) + "\n")


KEEP = "<!-- notes: what follows is kept when the benchmark rewrites this file -->"


def write_section(name: str, lines: list[str]) -> Path:
    """Write a benchmark's markdown to bench/results/<name>.md, print it, and rebuild RESULTS.md. What
    follows a :data:`KEEP` marker in the file (notes on the figures, earlier runs) is kept below."""
    out = HERE / "results" / f"{name}.md"
    old = out.read_text() if out.exists() else ""
    kept = old[old.index(KEEP):] if KEEP in old else ""
    out.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))
    print("\n".join(lines))
    print(f"wrote {out}")
    main()
    return out


if __name__ == "__main__":
    main()
