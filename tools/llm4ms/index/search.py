"""Top-k cosine search over an index, optionally inside a precursor m/z window, ranked over spectra or
over distinct compounds (each compound represented by its best-scoring spectrum)."""

import math
from dataclasses import dataclass, replace

import numpy as np

from ..spectra.fields import compound_key
from .kinds import faiss_parameters, search_parameters

GROUPS = ("compound", "spectrum")
RERANK_METHODS = ("cosine", "weighted-cosine")  # index.rerank; named here so the CLI need not import matchms


@dataclass(frozen=True)
class SearchSettings:
    k: int = 10
    group: str = "compound"
    window: float | None = None  # precursor m/z tolerance; None is open search
    window_unit: str = "da"  # "da" or "ppm"
    rerank: str | None = None  # a spectral similarity (RERANK_METHODS) re-scoring the embedding hits
    rerank_depth: int = 50  # library spectra taken from the embedding search for re-ranking
    rerank_tolerance: float = 0.01  # fragment tolerance of MS/MS re-ranking, Da (EI matches nominal masses)
    rerank_weight: float = 0.5  # share of the spectral similarity in the re-ranking score, the rest the embedding's
    ef_search: int | None = None  # HNSW efSearch instead of the one the index records
    nprobe: int | None = None  # IVF lists probed instead of the number the index records


WINDOW_SLACK_DA = 1e-9  # far below any mass accuracy a file reports


class PrecursorWindow:
    """Library rows sorted once by precursor m/z, for window look-ups. The one definition of "inside the
    window", shared with the benchmark's classical window searches so every method sees the same
    candidates; library spectra without a precursor m/z are never inside."""

    def __init__(self, precursors):
        mz = np.asarray([np.nan if p is None else p for p in precursors], dtype=float)
        order = np.argsort(mz, kind="stable")
        self.order = order[np.isfinite(mz[order])]
        self.sorted_mz = mz[self.order]

    def rows(self, precursor, window: float, unit: str = "da") -> np.ndarray:
        """Library rows whose precursor lies in [p − t, p + t], t = window (Da) or p × window × 10⁻⁶ (ppm)."""
        if precursor is None or not np.isfinite(precursor):
            return np.empty(0, dtype=np.int64)
        # slack for p ± t computed in binary: 150.0 + 0.01 falls short of the 150.01 read from a file
        tolerance = (window if unit == "da" else precursor * window * 1e-6) + WINDOW_SLACK_DA
        lo = np.searchsorted(self.sorted_mz, precursor - tolerance, side="left")
        hi = np.searchsorted(self.sorted_mz, precursor + tolerance, side="right")
        return np.ascontiguousarray(self.order[lo:hi], dtype=np.int64)


def compound_keys(library) -> np.ndarray:
    """First InChIKey block, or the spectrum id where the structure is unknown (its own compound)."""
    inchikeys, ids = library.column("inchikey").to_pylist(), library.column("id").to_pylist()
    keys = [compound_key(ik, sid) for ik, sid in zip(inchikeys, ids)]
    return np.asarray(keys, dtype=object)


def collapse_hits(ids, scores, keys, k, apart=()):
    """The first k hits, one per compound where ``keys`` are given; rows (or compounds) in ``apart`` are
    already listed."""
    hits, seen = [], set(apart)
    for i, s in zip(ids, scores):
        if i < 0:
            break
        key = i if keys is None else keys[i]
        if key in seen:
            continue
        seen.add(key)
        hits.append((int(i), float(s)))
        if len(hits) == k:
            break
    return hits


def _search(index, vectors, k, keys, limit, used, depth):
    """Hits per row of ``vectors``, widening the search from ``depth`` neighbours until k distinct compounds
    (or all ``limit`` candidates) are seen: with several spectra per compound the first k neighbours are
    not enough. A row that got fewer than ``depth`` neighbours has seen all the index can reach (IVF: its
    probed lists)."""
    results = [None] * len(vectors)
    pending = np.arange(len(vectors))
    while len(pending):
        depth = min(depth, limit)
        params = faiss_parameters(used, depth)
        if params is None:
            scores, ids = index.search(vectors[pending], depth)
        else:
            scores, ids = index.search(vectors[pending], depth, params=params)
        again = []
        for row, s, i in zip(pending, scores.tolist(), ids.tolist()):  # Python numbers: quicker per hit
            if len(set(s)) < len(s):  # equal scores go to the lower row, as in a window search
                s, i = map(list, zip(*sorted(zip(s, i), key=lambda hit: (-hit[0], hit[1] < 0, hit[1]))))
            hits = collapse_hits(i, s, keys, k)
            # faiss keeps an arbitrary one of rows tied at its depth, so a tie at the last hit needs a deeper
            # look, or which of them is listed would change with -k
            wider = len(hits) < k or s[-1] == hits[-1][1]
            if wider and depth < limit and i[-1] >= 0:
                again.append(row)
            else:
                results[row] = hits
        pending = np.asarray(again, dtype=int)
        depth *= 4
    return results


def search_index(index, vectors: np.ndarray, precursors: list, settings: SearchSettings, progress=None,
                 batch: int = 1024, query_peaks: list | None = None, reranker=None):
    """Per query, a list of (library row, score), best first. With ``settings.rerank``, ``query_peaks``
    gives each query's (m/z, intensities, template), and the scores are ``settings.rerank_weight`` × the spectral
    similarity + the rest × the embedding score;
    ``reranker`` (from `reranker_for`) lets a caller searching chunk by chunk prepare the library once."""
    if not settings.rerank:
        return _embedding_search(index, vectors, precursors, settings, progress, batch)
    keys = _keys(index, settings.group)
    pools = _embedding_search(index, vectors, precursors, replace(settings, k=settings.rerank_depth, group="spectrum"),
                              progress, batch)
    reranker = reranker or reranker_for(index, settings)

    def listed(scored, k, apart=()):
        rows, scores = zip(*scored) if scored else ((), ())
        return collapse_hits(rows, scores, keys, k, apart)

    results = [listed(reranker.rerank(hits, *peaks) if hits else [], settings.k)
               for hits, peaks in zip(pools, query_peaks)]
    # A full pool that holds fewer than k compounds (or k > --rerank-depth spectra) is followed by the
    # embedding's next best in the embedding's order, with the blended scores: merged into the pool, or
    # re-ranked among themselves, they would make the first hits depend on how many were asked for.
    short = [q for q, hits in enumerate(results) if len(hits) < settings.k and len(pools[q]) == settings.rerank_depth]
    if short:
        more = _embedding_search(index, vectors[short], [precursors[q] for q in short], replace(settings, rerank=None),
                                 None, batch)
        for q, extra in zip(short, more):
            pooled = {row for row, _ in pools[q]}
            taken = {row if keys is None else keys[row] for row, _ in results[q]}
            extra = [hit for hit in extra if hit[0] not in pooled]
            results[q] += listed(reranker.scores(extra, *query_peaks[q]), settings.k - len(results[q]), taken)
    return results


def reranker_for(index, settings: SearchSettings):
    """The re-ranker of ``settings.rerank`` over the index's library peaks."""
    from .rerank import Reranker

    return Reranker(settings.rerank, settings.rerank_tolerance, index.library.column("mz").to_pylist(),
                    index.library.column("intensities").to_pylist(), settings.rerank_weight)


def used_search_parameters(index, settings: SearchSettings) -> tuple[dict, list[str]]:
    """efSearch or nprobe as the index records them, overridden by ``settings``; and the overrides that do
    not apply to this index's kind."""
    return search_parameters(index.provenance.get("index"), {"ef_search": settings.ef_search,
                                                            "nprobe": settings.nprobe})


def _derived(index, name, make):
    """Something derived from the library once per index: a search runs chunk by chunk over the queries."""
    if name not in index.derived:
        index.derived[name] = make()
    return index.derived[name]


def first_depth(k: int, keys) -> int:
    """Neighbours asked for first: k per spectrum; k × the library's spectra per compound (at most 4·k)
    per compound, since HNSW's cost grows with the depth asked (efSearch is at least that depth), and a
    library of one spectrum per compound (in-silico) needs no more than k."""
    if keys is None:
        return k
    return min(4 * k, math.ceil(k * len(keys) / max(1, len(set(keys)))))


def _keys(index, group):
    return _derived(index, "compound_keys", lambda: compound_keys(index.library)) if group == "compound" else None


def _embedding_search(index, vectors, precursors, settings, progress, batch):
    keys = _keys(index, settings.group)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    total = index.faiss_index.ntotal
    results = []
    if settings.window is None:
        used = used_search_parameters(index, settings)[0]
        depth = _derived(index, f"first_depth {settings.group} {settings.k}", lambda: first_depth(settings.k, keys))
        for start in range(0, len(vectors), batch):
            results.extend(_search(index.faiss_index, vectors[start:start + batch], settings.k, keys, total, used,
                                   depth))
            if progress is not None:
                progress.update(min(batch, len(vectors) - start))
        return results
    window = _derived(index, "window", lambda: PrecursorWindow(index.library.column("precursor_mz").to_pylist()))
    for row, precursor in enumerate(precursors):
        candidates = window.rows(precursor, settings.window, settings.window_unit)
        results.append(_rescore(index.faiss_index, vectors[row], candidates, settings.k, keys)
                       if len(candidates) else [])
        if progress is not None:
            progress.update(1)
    return results


RESCORE_BLOCK = 16384  # candidate vectors decoded at a time: 36 MB at 576 dimensions


def _rescore(faiss_index, vector, candidates, k, keys):
    """A window's candidates scored one by one from the vectors the index stores (PQ: decoded from the
    codes, as its open search scores them), best first, ties to the lower row. For every kind this is exact
    and quick: a window holds few spectra, and a graph walk (HNSW) or list scan (IVF) limited to them by a
    selector would only find those it happens to pass, not the best of the window."""
    scores = np.empty(len(candidates), dtype=np.float32)
    exact = vector.astype(np.float64)
    for start in range(0, len(candidates), RESCORE_BLOCK):
        block = candidates[start:start + RESCORE_BLOCK]
        # in float64, then rounded: a float32 product differs in its last bit with a vector's place in the
        # block, so two identical library vectors scored apart and the tie went to either row
        scores[start:start + len(block)] = faiss_index.reconstruct_batch(block).astype(np.float64) @ exact
    order = np.lexsort((candidates, -scores))
    return collapse_hits(candidates[order], scores[order], keys, k)
