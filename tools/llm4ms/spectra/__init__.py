"""Reading spectra files into matchms Spectrum objects, cleaning them, and saying why any is rejected.

The names below load on first use, so a module that needs only ``spectra.fields`` or
``spectra.nominal`` (search, training) does not import matchms with them.
"""

import importlib

_WHERE = {"clean_spectrum": "cleaning", "FORMATS": "readers", "detect_format": "readers",
          "read_spectra": "readers", "Rejected": "record", "SourcedSpectrum": "record"}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
