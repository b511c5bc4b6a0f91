"""Recall@k as the MassBank benchmark defines it: a query is identified at rank k when a library spectrum
of its compound (first InChIKey block) is among the top k distinct compounds, each compound ranked by
its best-scoring spectrum."""

from ..spectra.fields import compound_key, inchikey_block

__all__ = ["compound_ranks", "inchikey_block", "recall_at_k"]


def compound_ranks(hits_by_query: dict, truth: dict) -> dict:
    """``hits_by_query``: query id → [(library id, InChIKey)] best first. ``truth``: query id → block.

    Returns query id → rank of the true compound among distinct compounds, or None when absent. A
    library spectrum without a structure counts as a compound of its own (it can never be right, but it
    does take a place in the ranking).
    """
    ranks = {}
    for query_id, block in truth.items():
        seen = []
        rank = None
        for library_id, inchikey in hits_by_query.get(query_id, []):
            key = compound_key(inchikey, library_id)
            if key in seen:
                continue
            seen.append(key)
            if key == block:
                rank = len(seen)
                break
        ranks[query_id] = rank
    return ranks


def recall_at_k(ranks, ks) -> dict:
    ranks = list(ranks)
    if not ranks:
        return {f"recall@{k}": None for k in ks}
    return {f"recall@{k}": sum(r is not None and r <= k for r in ranks) / len(ranks) for k in ks}
