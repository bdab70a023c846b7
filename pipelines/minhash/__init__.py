"""The ``minhash`` stage: SlimPajama-style MinHash LSH near-duplicate removal (local, global,
local-then-global; incremental against a persisted band index). See docs/minhash.md."""
