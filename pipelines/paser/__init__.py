"""PASER (He et al., 2025): post-training data selection for recovering pruned LLMs.

Two stages: ``paser-score`` (per-sample JSD between the original and the pruned model,
:mod:`pipelines.paser.scoring`) and ``paser`` (clusters -> CDS -> budgets -> efficiency-ordered,
concept-consistent selection, :mod:`pipelines.paser.transform`).
"""
