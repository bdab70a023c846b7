"""TL;DR (Wang et al., ICCV 2023): per-cluster uniform sampling with an optional image-text pre-filter
and caption refinement. See docs/tldr.md."""
from pipelines.tldr.config import TldrParams
from pipelines.tldr.transform import REASONS, TldrResult, transform

__all__ = ["TldrParams", "TldrResult", "transform", "REASONS"]
