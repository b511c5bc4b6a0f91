"""Top-k cosine search over an index, optionally inside a precursor m/z window, ranked over spectra or
over distinct compounds (each compound represented by its best-scoring spectrum)."""

from dataclasses import dataclass

import numpy as np

from ..spectra.fields import compound_key

GROUPS = ("compound", "spectrum")


@dataclass(frozen=True)
class SearchSettings:
    k: int = 10
    group: str = "compound"
    window: float | None = None  # precursor m/z tolerance; None is open search
    window_unit: str = "da"  # "da" or "ppm"

    def tolerance(self, precursor: float) -> float:
        return self.window if self.window_unit == "da" else precursor * self.window * 1e-6


def compound_keys(library) -> np.ndarray:
    """First InChIKey block, or the spectrum id where the structure is unknown (its own compound)."""
    inchikeys, ids = library.column("inchikey").to_pylist(), library.column("id").to_pylist()
    keys = [compound_key(ik, sid) for ik, sid in zip(inchikeys, ids)]
    return np.asarray(keys, dtype=object)


def _collapse(ids, scores, keys, k):
    hits, seen = [], set()
    for i, s in zip(ids, scores):
        if i < 0:
            break
        if keys is not None:
            if keys[i] in seen:
                continue
            seen.add(keys[i])
        hits.append((int(i), float(s)))
        if len(hits) == k:
            break
    return hits


def _search(index, vectors, k, keys, limit, params=None):
    """Hits per row of ``vectors``, widening the search until k distinct compounds (or all ``limit``
    candidates) are seen: with several spectra per compound the first k neighbours are not enough."""
    results = [None] * len(vectors)
    pending = np.arange(len(vectors))
    depth = k if keys is None else 4 * k
    while len(pending):
        depth = min(depth, limit)
        if params is None:
            scores, ids = index.search(vectors[pending], depth)
        else:
            scores, ids = index.search(vectors[pending], depth, params=params)
        again = []
        for row, s, i in zip(pending, scores, ids):
            hits = _collapse(i, s, keys, k)
            if len(hits) < k and depth < limit:
                again.append(row)
            else:
                results[row] = hits
        pending = np.asarray(again, dtype=int)
        depth *= 4
    return results


def search_index(index, vectors: np.ndarray, precursors: list, settings: SearchSettings, progress=None,
                 batch: int = 1024):
    """Per query, a list of (library row, score), best first."""
    import faiss

    keys = compound_keys(index.library) if settings.group == "compound" else None
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    total = index.faiss_index.ntotal
    results = []
    if settings.window is None:
        for start in range(0, len(vectors), batch):
            results.extend(_search(index.faiss_index, vectors[start:start + batch], settings.k, keys, total))
            if progress is not None:
                progress.update(min(batch, len(vectors) - start))
        return results
    library_mz = np.asarray([np.nan if p is None else p for p in index.library.column("precursor_mz").to_pylist()])
    order = np.argsort(library_mz, kind="stable")
    order = order[np.isfinite(library_mz[order])]
    sorted_mz = library_mz[order]
    for row, precursor in enumerate(precursors):
        hits = []
        if precursor is not None and np.isfinite(precursor):
            tol = settings.tolerance(precursor)
            lo = np.searchsorted(sorted_mz, precursor - tol, side="left")
            hi = np.searchsorted(sorted_mz, precursor + tol, side="right")
            candidates = np.ascontiguousarray(order[lo:hi], dtype=np.int64)
            if len(candidates):
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(candidates))
                hits = _search(index.faiss_index, vectors[row:row + 1], settings.k, keys, len(candidates),
                               params)[0]
        results.append(hits)
        if progress is not None:
            progress.update(1)
    return results
