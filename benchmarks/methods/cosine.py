"""Cosine and weighted cosine with matchms CosineGreedy, open or inside a precursor window."""

import time

import numpy as np
from matchms.similarity import CosineGreedy
from tqdm import tqdm

from llm4ms.index.search import PrecursorWindow

from . import Ranking, best_rows
from .peaks import prepared

CHUNK = 64  # queries per CosineGreedy.matrix call: a progress step of a few seconds


def cosine(queries, library, task, powers: tuple = (0.0, 1.0), window: bool = False) -> Ranking:
    """``powers``: (m/z power, intensity power) of the peak weights; (0, 1) is plain cosine."""
    mz_power, intensity_power = powers
    similarity = CosineGreedy(tolerance=task.tolerance, mz_power=mz_power, intensity_power=intensity_power)
    start = time.perf_counter()
    query_spectra = prepared(queries.spectra, task.unit_mass)
    library_spectra = prepared(library.spectra, task.unit_mass)
    prep = time.perf_counter() - start
    # The first call compiles matchms's numba kernels (seconds); kept out of the search timing.
    similarity.pair(library_spectra[0], query_spectra[0])
    rows, scores = [], []
    start = time.perf_counter()
    if window:
        library_window = PrecursorWindow(library.precursors)
        for spectrum, precursor in zip(tqdm(query_spectra, desc="cosine in window", unit="query"),
                                       queries.precursors):
            candidates = library_window.rows(precursor, task.window)
            found = similarity.matrix([library_spectra[i] for i in candidates], [spectrum],
                                      progress_bar=False)["score"][:, 0] if len(candidates) else np.empty(0)
            r, s = best_rows(found.astype(float), candidates=candidates)
            rows.append(r)
            scores.append(s)
    else:
        with tqdm(total=len(query_spectra), desc="cosine", unit="query") as bar:
            for first in range(0, len(query_spectra), CHUNK):
                chunk = query_spectra[first:first + CHUNK]
                matrix = similarity.matrix(library_spectra, chunk, progress_bar=False)["score"]
                for column in range(matrix.shape[1]):
                    r, s = best_rows(matrix[:, column].astype(float))
                    rows.append(r)
                    scores.append(s)
                bar.update(len(chunk))
    search = time.perf_counter() - start
    # Unit-mass rounding is a once-per-library step for the library side; it is counted with the queries
    # here since it is negligible next to the search.
    return Ranking(rows, scores, query_prep_s=prep, search_s=search,
                   extra={"tolerance_da": task.tolerance, "mz_power": mz_power, "intensity_power": intensity_power,
                          "unit_mass": task.unit_mass, "window_da": task.window if window else None})
