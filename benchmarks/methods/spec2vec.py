"""Spec2Vec (Huber et al. 2021) re-stated on gensim.

The `spec2vec` package (0.9.1, the latest) imports `matchms.Spikes`, which matchms 0.33 no longer has,
so its method is written out here: each spectrum is a document of ``peak@<m/z>`` words (and, where the
precursor is known, ``loss@<precursor − m/z>`` words for losses of 5–200 Da), Word2Vec is trained on
the library documents with Spec2Vec's published defaults, and a spectrum's vector is the sum of its
word vectors weighted by intensity^0.5. Scores are cosines of those vectors.

Words carry two decimals, as the package's default, on every task: that reproduces the MassBank EI
figures of the data README. ``nominal=True`` is a variant for unit-mass (EI) libraries: peaks rounded to
integer m/z first, whole-number words.
"""

import time

import numpy as np
from gensim.models import Word2Vec

from . import Ranking, best_rows
from .peaks import prepared

# Spec2Vec's defaults (model_building.set_spec2vec_defaults): CBOW, a window spanning whole spectra,
# learning rate 0.025 decaying by 0.00025 per epoch. One worker and a seed make the model reproducible.
WORD2VEC = {"vector_size": 300, "window": 500, "min_count": 1, "sg": 0, "negative": 5, "alpha": 0.025,
            "workers": 1, "seed": 42}
# Spec2Vec trains for a number of epochs its user picks; 15 reproduces the data README's EI figures
# (10: Recall@1 0.706, 15: 0.716, 20: 0.724, 25: 0.723, against 0.709 there).
EPOCHS = 15
DECIMALS = 2
LOSS_RANGE = (5.0, 200.0)
INTENSITY_POWER = 0.5


def document(spectrum, precursor: float, decimals: int) -> tuple[list[str], np.ndarray]:
    mz, intensities = spectrum.peaks.mz, spectrum.peaks.intensities
    words = [f"peak@{m:.{decimals}f}" for m in mz]
    weights = list(intensities)
    if not np.isnan(precursor):
        losses = precursor - mz
        keep = (losses >= LOSS_RANGE[0]) & (losses <= LOSS_RANGE[1])
        words += [f"loss@{loss:.{decimals}f}" for loss in losses[keep]]
        weights += list(intensities[keep])
    return words, np.asarray(weights)


def vectors(model: Word2Vec, documents) -> np.ndarray:
    """Intensity-weighted sums of word vectors, L2-normalised; words unknown to the model are skipped."""
    out = np.zeros((len(documents), model.vector_size), dtype=np.float32)
    for row, (words, weights) in enumerate(documents):
        known = [i for i, w in enumerate(words) if w in model.wv.key_to_index]
        if known:
            out[row] = (weights[known] ** INTENSITY_POWER) @ model.wv[[words[i] for i in known]]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1)


def spec2vec(queries, library, task, nominal: bool = False) -> Ranking:
    decimals = 0 if nominal else DECIMALS
    start = time.perf_counter()
    library_docs = [document(s, p, decimals)
                    for s, p in zip(prepared(library.spectra, nominal), library.precursors)]
    model = Word2Vec([words for words, _ in library_docs], epochs=EPOCHS,
                     min_alpha=WORD2VEC["alpha"] - 0.00025 * EPOCHS, **WORD2VEC)
    library_vectors = vectors(model, library_docs)
    library_prep = time.perf_counter() - start
    start = time.perf_counter()
    query_vectors = vectors(model, [document(s, p, decimals)
                                    for s, p in zip(prepared(queries.spectra, nominal), queries.precursors)])
    query_prep = time.perf_counter() - start
    start = time.perf_counter()
    rows, scores = [], []
    for first in range(0, len(query_vectors), 256):
        for row in query_vectors[first:first + 256] @ library_vectors.T:
            r, s = best_rows(row.astype(float))
            rows.append(r)
            scores.append(s)
    return Ranking(rows, scores, library_prep_s=library_prep, query_prep_s=query_prep,
                   search_s=time.perf_counter() - start,
                   extra={"decimals": decimals, "unit_mass": nominal, "epochs": EPOCHS,
                          "losses": task.window is not None, "vocabulary": len(model.wv.key_to_index)})
