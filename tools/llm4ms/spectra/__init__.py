"""Reading spectra files into matchms Spectrum objects, cleaning them, and saying why any is rejected.

The names below load on first use, so a module that needs only ``spectra.fields`` or
``spectra.nominal`` (search, training) does not import matchms with them.
"""

import importlib

# Here rather than in readers: the command line names the formats in its options, and importing matchms
# (numba, scikit-learn) into every command is slow and, beside faiss, has aborted `search` at exit.
FORMATS = ("mgf", "msp", "mzml", "json", "parquet")

_WHERE = {"clean_spectrum": "cleaning", "detect_format": "readers",
          "read_spectra": "readers", "Rejected": "record", "SourcedSpectrum": "record"}

__all__ = sorted(_WHERE) + ["FORMATS"]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
