"""The ``embed`` stage: images or texts -> embedding vectors (open_clip, sentence-transformers)."""
