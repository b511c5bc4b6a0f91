"""Reading spectra files into matchms Spectrum objects, cleaning them, and saying why any is rejected."""

from .cleaning import clean_spectrum
from .readers import FORMATS, detect_format, read_spectra
from .record import Rejected, SourcedSpectrum

__all__ = ["FORMATS", "Rejected", "SourcedSpectrum", "clean_spectrum", "detect_format", "read_spectra"]
