"""Re-ranking embedding hits by a spectral similarity (matchms CosineGreedy).

The embedding search is fast but coarse; a classical similarity over its best few dozen candidates is
cheap and sharpens the top of the list. Each query is compared the way its kind of spectrum is usually
matched: EI (the ei and paper-ei templates) at nominal mass, MS/MS at a fragment tolerance in Da.

The two scores are blended, not the spectral one put in the embedding's place: the trained encoder and the
cosine miss different queries, and half of each found more compounds than either alone in four of six
measurements (EI, MS/MS open and windowed; dev queries and spectra held out of the library) and as many,
within 0.001, as the better one in the other two (benchmarks/RESULTS.md, "The fused score with the shipped
adapters").
"""

import numpy as np
from matchms import Spectrum
from matchms.similarity import CosineGreedy

from ..spectra.nominal import nominal_mass
from ..textualize.settings import EI_TEMPLATES

# (m/z power, intensity power). Weighted cosine: the m/z^3 · I^0.6 composite of EI library search (Stein
# & Scott 1994) for EI, square-root intensities for MS/MS, the best classical settings on MassBank.
_POWERS = {("cosine", True): (0.0, 1.0), ("cosine", False): (0.0, 1.0),
           ("weighted-cosine", True): (3.0, 0.6), ("weighted-cosine", False): (0.0, 0.5)}
_NOMINAL_TOLERANCE = 0.1  # integer m/z: anything below 0.5 matches the same peaks


class Reranker:
    def __init__(self, method: str, tolerance: float, library_mz: list, library_intensities: list,
                 weight: float = 1.0):
        self.method = method
        self.tolerance = tolerance
        self.weight = weight  # of the spectral similarity; 1 ranks by it alone
        self.library = (library_mz, library_intensities)
        self.similarities = {}
        self.spectra = {}

    def _similarity(self, nominal: bool) -> CosineGreedy:
        if nominal not in self.similarities:
            mz_power, intensity_power = _POWERS[(self.method, nominal)]
            self.similarities[nominal] = CosineGreedy(_NOMINAL_TOLERANCE if nominal else self.tolerance,
                                                      mz_power, intensity_power)
        return self.similarities[nominal]

    @staticmethod
    def _spectrum(mz, intensities, nominal: bool) -> Spectrum:
        mz, intensities = np.asarray(mz, dtype=float), np.asarray(intensities, dtype=float)
        if nominal:
            mz, intensities = nominal_mass(mz, intensities)
        return Spectrum(mz, intensities, metadata_harmonization=False)

    def _library_spectrum(self, row: int, nominal: bool) -> Spectrum:
        key = (row, nominal)
        if key not in self.spectra:
            mz, intensities = self.library
            self.spectra[key] = self._spectrum(mz[row], intensities[row], nominal)
        return self.spectra[key]

    def rerank(self, hits: list, mz, intensities, template: str) -> list:
        """``hits``: (library row, embedding score) best first → (library row, weight × spectral similarity +
        (1 − weight) × embedding score) best first; equal scores keep the embedding order."""
        return sorted(self.scores(hits, mz, intensities, template), key=lambda hit: -hit[1])

    def scores(self, hits: list, mz, intensities, template: str) -> list:
        """The same scores, in the order of ``hits``."""
        nominal = template in EI_TEMPLATES
        similarity = self._similarity(nominal)
        query = self._spectrum(mz, intensities, nominal)
        return [(row, self.weight * float(similarity.pair(self._library_spectrum(row, nominal), query)["score"])
                 + (1 - self.weight) * embedding_score) for row, embedding_score in hits]
