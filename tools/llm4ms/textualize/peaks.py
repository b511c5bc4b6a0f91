"""Peak selection shared by the templates: bin m/z, drop weak peaks, keep the strongest (or those a
weighting favours)."""

import numpy as np


def select_peaks(mz, intensities, top_n: int, threshold: float, decimals: int,
                 weighting: tuple[float, float] = (0.0, 1.0)) -> list[tuple[float, float]]:
    """(m/z, relative intensity) pairs, strongest first.

    m/z is rounded to ``decimals`` first and peaks that fall into one value merge by their maximum, so
    the text never repeats a number. The ``top_n`` kept are those m/z^a · I^b weighs most for
    ``weighting`` (a, b); the default (0, 1) keeps the strongest. Ties go to the lower m/z, which makes
    the choice and the order deterministic.
    """
    return kept_peaks(*peaks_above(mz, intensities, threshold, decimals), top_n, weighting)


def kept_peaks(values: np.ndarray, relative: np.ndarray, top_n: int,
               weighting: tuple[float, float] = (0.0, 1.0)) -> list[tuple[float, float]]:
    """``select_peaks`` on the output of ``peaks_above``."""
    if not values.size:
        return []
    mz_power, intensity_power = weighting
    chosen = np.lexsort((values, -(values ** mz_power * relative ** intensity_power)))[:top_n]
    order = chosen[np.lexsort((values[chosen], -relative[chosen]))]
    return [(float(values[i]), float(relative[i])) for i in order]


def peaks_above(mz, intensities, threshold: float, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """(m/z, relative intensity) of every peak at or above ``threshold`` of the base peak, m/z rounded to
    ``decimals`` and peaks of one rounded value merged by their maximum; ascending m/z."""
    mz = np.round(np.asarray(mz, dtype=float), decimals)
    intensities = np.asarray(intensities, dtype=float)
    if mz.size == 0:
        return mz, intensities
    values, inverse = np.unique(mz, return_inverse=True)
    merged = np.zeros(values.size)
    np.maximum.at(merged, inverse, intensities)
    top = merged.max()
    if top <= 0:
        return values[:0], merged[:0]
    relative = merged / top
    keep = relative >= threshold
    return values[keep], relative[keep]


def format_mz(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"
