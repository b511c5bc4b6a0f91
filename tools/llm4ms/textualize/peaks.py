"""Peak selection shared by the templates: bin m/z, drop weak peaks, keep the strongest."""

import numpy as np


def select_peaks(mz, intensities, top_n: int, threshold: float, decimals: int) -> list[tuple[float, float]]:
    """(m/z, relative intensity) pairs, strongest first.

    m/z is rounded to ``decimals`` first and peaks that fall into one value merge by their maximum, so
    the text never repeats a number. Ties in intensity go to the lower m/z, which makes the order
    deterministic.
    """
    mz = np.round(np.asarray(mz, dtype=float), decimals)
    intensities = np.asarray(intensities, dtype=float)
    if mz.size == 0:
        return []
    values, inverse = np.unique(mz, return_inverse=True)
    merged = np.zeros(values.size)
    np.maximum.at(merged, inverse, intensities)
    top = merged.max()
    if top <= 0:
        return []
    relative = merged / top
    keep = relative >= threshold
    values, relative = values[keep], relative[keep]
    order = np.lexsort((values, -relative))[:top_n]
    return [(float(values[i]), float(relative[i])) for i in order]


def format_mz(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"
