"""Perturbed copies of a spectrum, written with the table's own template, as extra positive views.

EI compounds in a library mostly have a single spectrum, so same-compound pairs alone are few; a copy
with jittered intensities and a few peaks lost mimics another instrument's spectrum of that compound.
"""

import numpy as np

from ..textualize import text_with_params

INTENSITY_SIGMA = 0.3  # log-normal noise on each intensity
PEAK_LOSS = 0.1  # chance that a peak is lost
MZ_SIGMA = 0.003  # Da, high-resolution spectra only


def perturbed_text(rng: np.random.Generator, mz, intensities, precursor_mz, template: str, params: dict):
    mz = np.asarray(mz, dtype=float)
    intensity = np.asarray(intensities, dtype=float) * np.exp(rng.normal(0, INTENSITY_SIGMA, len(mz)))
    keep = rng.random(len(mz)) >= PEAK_LOSS
    keep[np.argmax(intensity)] = True
    if params.get("decimals", 0) > 0:
        mz = mz + rng.normal(0, MZ_SIGMA, len(mz))
    text, _ = text_with_params(mz[keep], intensity[keep], precursor_mz, template, params)
    return text
