"""The ``containment`` stage: R2D2 (Shah et al., "R2D2: Reducing Redundancy and Duplication in Data
Lakes", SIGMOD 2024) — schema containment graph, min-max pruning, content pruning, exact
verification, deletion plan and rebuild recipes. Pure logic only; jobs/containment*.py do the I/O.
"""
