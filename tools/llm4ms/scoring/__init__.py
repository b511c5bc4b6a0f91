"""Recall@k over distinct compounds, structural similarity of the top hit, and plots."""

from .recall import compound_ranks, inchikey_block, recall_at_k
from .tanimoto import TanimotoCache

__all__ = ["TanimotoCache", "compound_ranks", "inchikey_block", "recall_at_k"]
