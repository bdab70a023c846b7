"""SemDeDup (Abbas et al., 2023): within-cluster semantic deduplication at cosine 1 - epsilon.
See docs/semdedup.md."""
from pipelines.semdedup.config import SemDedupParams
from pipelines.semdedup.transform import REJECT_REASONS, SemDedupResult, transform

__all__ = ["SemDedupParams", "SemDedupResult", "transform", "REJECT_REASONS"]
