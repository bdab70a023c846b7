"""ct-reduce: "Less is More" (Wolf et al., 2024) slice reduction of CT volumes.

``config`` holds :class:`CtReduceParams`; ``features`` turns slices into what a strategy compares
(dHash, greyscale pixels, embeddings) on the executors; ``reduce`` groups by volume and runs the
greedy reference walk (or the across-volume pass); ``transform`` composes them into the stage's
outputs ``selected``, ``volume_stats`` and ``rejected``.
"""
