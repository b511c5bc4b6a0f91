"""Checks that decide whether a spectrum can be used, and the matchms filters that harmonise it."""

import numpy as np
from matchms.filtering import (default_filters, derive_inchi_from_smiles, derive_inchikey_from_inchi,
                               derive_smiles_from_inchi, normalize_intensities, repair_inchi_inchikey_smiles,
                               select_by_intensity)


def peak_problem(spectrum) -> str | None:
    """Why the peaks cannot be used, or None. Checked before any filter, which may hide the cause."""
    mz = spectrum.peaks.mz
    intensities = spectrum.peaks.intensities
    if len(mz) == 0:
        return "no peaks"
    bad = ~np.isfinite(mz)
    if bad.any():
        return f"non-numeric or infinite m/z ({mz[bad][0]})"
    if (mz < 0).any():
        return f"negative m/z ({mz[mz < 0][0]})"
    bad = ~np.isfinite(intensities)
    if bad.any():
        return f"NaN or infinite intensity at m/z {mz[bad][0]:g}"
    if (intensities < 0).any():
        return f"negative intensity at m/z {mz[intensities < 0][0]:g}"
    if not (intensities > 0).any():
        return "all intensities are zero"
    declared = str(spectrum.get("num_peaks") or "").strip()
    if declared.isdigit() and int(declared) != len(mz):
        # The usual sign of a file cut short inside its last record (MSP readers stop quietly there).
        return f"declares {declared} peaks (Num Peaks) but has {len(mz)}; truncated record?"
    return None


def clean_spectrum(spectrum):
    """Return (cleaned spectrum, None) or (None, reason)."""
    problem = peak_problem(spectrum)
    if problem:
        return None, problem
    spectrum = default_filters(spectrum)
    spectrum = repair_inchi_inchikey_smiles(spectrum)
    # Structures are only derived where missing: these filters return early when the field is present.
    spectrum = derive_inchi_from_smiles(spectrum)
    spectrum = derive_inchikey_from_inchi(spectrum)
    spectrum = derive_smiles_from_inchi(spectrum)
    spectrum = normalize_intensities(spectrum)
    # Only zero-intensity peaks are dropped (matchms caps intensities at 10,000 by default), after
    # normalising: a peak below ~1e-308 of the base peak becomes 0 there (found by tests/test_properties.py).
    spectrum = select_by_intensity(spectrum, intensity_from=np.nextafter(0, 1), intensity_to=np.inf)
    declared = spectrum.get("num_peaks")
    if declared is not None and str(declared).strip() != str(len(spectrum.peaks.mz)):
        # The row's metadata goes out with its peaks: a count that still held the zero-intensity peaks
        # dropped here would make this very row, read again, look like a record cut short.
        spectrum.set("num_peaks", str(len(spectrum.peaks.mz)))
    return spectrum, None
