"""Nominal (unit) mass peaks, the way GC-MS EI libraries store spectra."""

import numpy as np


def nominal_mass(mz: np.ndarray, intensities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """m/z rounded to integers, keeping the strongest peak per integer, renormalised to a maximum of 1.

    Accurate-mass EI spectra (GC-QTOF) then match unit-mass library spectra peak for peak.
    """
    keys, inverse = np.unique(np.rint(mz), return_inverse=True)
    merged = np.zeros(len(keys))
    np.maximum.at(merged, inverse, intensities)
    return keys.astype(float), merged / merged.max()
