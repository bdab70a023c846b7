"""SemDeDup (Abbas et al., 2023): within-cluster semantic deduplication at cosine 1 - epsilon.
See docs/semdedup.md."""
from pipelines.semdedup.config import SemDedupParams
from pipelines.semdedup.transform import REJECT_REASONS, SemDedupResult, deduplicate

__all__ = ["SemDedupParams", "SemDedupResult", "deduplicate", "REJECT_REASONS"]
