"""Flash entropy similarity (Li & Fiehn 2023) with `ms_entropy`, open search or identity search."""

import time

import numpy as np
from ms_entropy import FlashEntropySearch
from tqdm import tqdm

from llm4ms.index.search import PrecursorWindow

from . import Ranking, best_rows
from .peaks import prepared


def _peaks(spectrum) -> np.ndarray:
    return np.column_stack([spectrum.peaks.mz, spectrum.peaks.intensities]).astype(np.float32)


def entropy(queries, library, task, identity: bool = False) -> Ranking:
    if identity and task.window is None:
        raise ValueError("identity search needs precursor m/z (this task has none)")
    has_precursor = task.window is not None
    # Without a precursor (EI) nothing is removed near it; the index still sorts by precursor, so 0 stands in.
    removal = 1.6 if has_precursor else None
    cleaning = {"precursor_ions_removal_da": removal, "min_ms2_difference_in_da": max(0.05, 2 * task.tolerance)}
    start = time.perf_counter()
    search = FlashEntropySearch(max_ms2_tolerance_in_da=task.tolerance)
    entries = [{"row": i, "precursor_mz": float(p) if has_precursor else 0.0, "peaks": _peaks(s)}
               for i, (s, p) in enumerate(zip(prepared(library.spectra, task.unit_mass), library.precursors))]
    indexed = search.build_index(entries, **cleaning)
    order = np.array([entry["row"] for entry in indexed])  # index position → library row
    indexed_window = PrecursorWindow(library.precursors[order])  # in index positions, as the scores come
    library_prep = time.perf_counter() - start
    rows, scores = [], []
    query_prep = searching = 0.0
    for spectrum, precursor in zip(tqdm(prepared(queries.spectra, task.unit_mass), desc="flash entropy",
                                        unit="query"), queries.precursors):
        start = time.perf_counter()
        peaks = search.clean_spectrum_for_search(float(precursor) if has_precursor else 0.0, _peaks(spectrum),
                                                 **cleaning)
        middle = time.perf_counter()
        if identity:
            similarity = search.identity_search(precursor_mz=float(precursor), peaks=peaks,
                                                ms1_tolerance_in_da=task.window, ms2_tolerance_in_da=task.tolerance)
            # Every library spectrum in the window is a candidate, scored or not, as in the cosine window.
            candidates = indexed_window.rows(precursor, task.window)
            r, s = best_rows(similarity[candidates].astype(float), candidates=candidates)
        else:
            similarity = search.open_search(peaks=peaks, ms2_tolerance_in_da=task.tolerance)
            r, s = best_rows(similarity.astype(float))
        rows.append(order[r])
        scores.append(s)
        query_prep += middle - start
        searching += time.perf_counter() - middle
    return Ranking(rows, scores, library_prep_s=library_prep, query_prep_s=query_prep, search_s=searching,
                   extra={"tolerance_da": task.tolerance, "unit_mass": task.unit_mass, "precursor_removal_da": removal,
                          "window_da": task.window if identity else None})
