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


class FlashScores:
    """A flash entropy index of a library, cleaned and matched as the harness's method does; ``scores``
    gives one query's similarity to every library spectrum, in index positions (``order`` maps them to
    library rows)."""

    def __init__(self, spectra: list, precursors, task):
        self.has_precursor = task.window is not None
        # Without a precursor (EI) nothing is removed near it; the index still sorts by precursor, so 0 stands in.
        self.removal = 1.6 if self.has_precursor else None
        self.cleaning = {"precursor_ions_removal_da": self.removal,
                         "min_ms2_difference_in_da": max(0.05, 2 * task.tolerance)}
        self.task = task
        self.search = FlashEntropySearch(max_ms2_tolerance_in_da=task.tolerance)
        entries = [{"row": i, "precursor_mz": self._precursor(p), "peaks": _peaks(s)}
                   for i, (s, p) in enumerate(zip(prepared(spectra, task.unit_mass), precursors))]
        self.rows = len(entries)
        # Spectra that cleaning leaves empty are not indexed: index positions are fewer than library rows.
        self.order = np.array([entry["row"] for entry in self.search.build_index(entries, **self.cleaning)])

    def _precursor(self, precursor) -> float:
        return float(precursor) if self.has_precursor else 0.0

    def query_peaks(self, spectrum, precursor) -> np.ndarray:
        """``spectrum`` as prepared for the task (``prepared``), cleaned as the library was."""
        return self.search.clean_spectrum_for_search(self._precursor(precursor), _peaks(spectrum), **self.cleaning)

    def scores(self, peaks: np.ndarray) -> np.ndarray:
        return self.search.open_search(peaks=peaks, ms2_tolerance_in_da=self.task.tolerance)

    def by_row(self, spectrum, precursor) -> np.ndarray:
        """The similarity of one raw query spectrum to every library spectrum, in library row order (0 for
        spectra not indexed)."""
        out = np.zeros(self.rows, dtype=float)
        out[self.order] = self.scores(self.query_peaks(prepared([spectrum], self.task.unit_mass)[0], precursor))
        return out


def entropy(queries, library, task, identity: bool = False) -> Ranking:
    if identity and task.window is None:
        raise ValueError("identity search needs precursor m/z (this task has none)")
    start = time.perf_counter()
    flash = FlashScores(library.spectra, library.precursors, task)
    order = flash.order  # index position → library row
    indexed_window = PrecursorWindow(library.precursors[order])  # in index positions, as the scores come
    library_prep = time.perf_counter() - start
    rows, scores = [], []
    query_prep = searching = 0.0
    for spectrum, precursor in zip(tqdm(prepared(queries.spectra, task.unit_mass), desc="flash entropy",
                                        unit="query"), queries.precursors):
        start = time.perf_counter()
        peaks = flash.query_peaks(spectrum, precursor)
        middle = time.perf_counter()
        if identity:
            similarity = flash.search.identity_search(precursor_mz=float(precursor), peaks=peaks,
                                                      ms1_tolerance_in_da=task.window,
                                                      ms2_tolerance_in_da=task.tolerance)
            # Every library spectrum in the window is a candidate, scored or not, as in the cosine window.
            candidates = indexed_window.rows(precursor, task.window)
            r, s = best_rows(similarity[candidates].astype(float), candidates=candidates)
        else:
            r, s = best_rows(flash.scores(peaks).astype(float))
        rows.append(order[r])
        scores.append(s)
        query_prep += middle - start
        searching += time.perf_counter() - middle
    return Ranking(rows, scores, library_prep_s=library_prep, query_prep_s=query_prep, search_s=searching,
                   extra={"tolerance_da": task.tolerance, "unit_mass": task.unit_mass,
                          "precursor_removal_da": flash.removal, "window_da": task.window if identity else None})
