"""The ``cluster`` stage: FAISS k-means on a bounded sample, distributed assignment of every row."""
