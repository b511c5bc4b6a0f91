"""The search methods the harness compares, each from the library that owns it.

A method takes the query and library spectra and returns a `Ranking`: for every query the best library
spectra, best first, with the seconds it spent. The harness turns rankings into hits tables and scores
them with `llm4ms score`, so every method is counted the same way.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Library spectra kept per query; enough for 10 distinct compounds even where a compound has dozens of
#: spectra, so the top-10 compound ranking is exact.
DEPTH = 200


@dataclass
class Ranking:
    rows: list  # per query: library row numbers, best first
    scores: list  # per query: the matching scores
    library_prep_s: float = 0.0  # once per library: training, indexing, embedding the library
    query_prep_s: float = 0.0  # per query set: cleaning, embedding (model loading excluded)
    search_s: float = 0.0  # scoring queries against the library and ranking
    extra: dict = field(default_factory=dict)  # method-specific figures (e.g. embedding spectra/s)
    hits: Path | None = None  # set by methods that write their own hits file (llm4ms) instead of rows


def best_rows(scores: np.ndarray, depth: int = DEPTH, candidates: np.ndarray | None = None):
    """The ``depth`` best library rows of one score vector (over ``candidates`` rows when given), ties
    broken by library order so every run ranks the same way."""
    if candidates is not None:
        order = np.lexsort((candidates, -scores))[:depth]
        return candidates[order], scores[order]
    depth = min(depth, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth] if depth < len(scores) else np.arange(len(scores))
    order = top[np.lexsort((top, -scores[top]))]
    return order, scores[order]
