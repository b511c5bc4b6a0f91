"""mzML through pymzml, which (unlike matchms's importer) shows every scan, so none is skipped unseen."""

import logging
import warnings
from pathlib import Path

import numpy as np
from matchms import Spectrum

from ..errors import InputError
from .record import Rejected, SourcedSpectrum
from .text_files import GZIP

_POSITIVE, _NEGATIVE = "MS:1000130", "MS:1000129"
_TITLE = "MS:1000796"

# pymzml logs its own three lines about a truncated file's index before the error that says where it broke.
logging.getLogger("pymzml").setLevel(logging.ERROR)


def read_mzml(path: Path, name: str):
    with warnings.catch_warnings():  # that it falls back to its slower numpress decoder (python -W error)
        warnings.simplefilter("ignore", ImportWarning)
        import pymzml

    with open(path, "rb") as handle:
        if handle.read(len(GZIP)) == GZIP and not path.name.lower().endswith(".gz"):
            # pymzml takes a file for gzip by its name alone, and reads this one as broken XML
            raise InputError(f"{name}: gzip-compressed mzML under a name without .gz",
                             hint="name it .mzML.gz, or decompress it first")
    position, reader = 0, None
    try:
        reader = pymzml.run.Reader(str(path), build_index_from_scratch=True)
        for scan in reader:
            # pymzml parses "scan=3" into the int 3; the element keeps the native id users join on.
            native_id = scan.element.get("id") or str(scan.ID)
            level = scan.ms_level
            if level != 2:
                yield Rejected(name, position, native_id,
                               f"MS{level} scan; only MS2 scans (with a precursor) are identified")
            else:
                yield _to_sourced(scan, name, position, native_id)
            position += 1
    except InputError:
        raise
    except Exception as exc:  # pymzml raises bare Exceptions and XML errors alike on a broken file
        raise InputError(f"{name}: scan {position + 1}: cannot parse mzML ({type(exc).__name__}: {exc})") from exc
    finally:
        if reader is not None:
            reader.close()  # pymzml leaves its file open otherwise (a ResourceWarning)
    if position == 0:
        raise InputError(f"{name}: no scans found in this mzML file")


def _to_sourced(scan, name: str, position: int, native_id: str) -> SourcedSpectrum:
    peaks = _as_written(scan.peaks("centroided"))
    mz = peaks[:, 0] if len(peaks) else np.zeros(0)
    intensities = peaks[:, 1] if len(peaks) else np.zeros(0)
    order = np.argsort(mz, kind="stable")
    metadata = {"spectrum_id": native_id, "ms_level": 2, "scan_number": scan.ID}
    precursors = scan.selected_precursors or []
    if precursors:
        metadata["precursor_mz"] = float(precursors[0]["mz"])
        if precursors[0].get("charge"):
            metadata["charge"] = int(precursors[0]["charge"])
    if scan.get(_POSITIVE) is not None:
        metadata["ionmode"] = "positive"
    elif scan.get(_NEGATIVE) is not None:
        metadata["ionmode"] = "negative"
    title = scan.get(_TITLE)
    if title:
        metadata["title"] = str(title)
    spectrum = Spectrum(mz=mz[order], intensities=intensities[order], metadata=metadata)
    return SourcedSpectrum(spectrum, name, position, native_id=native_id)


def _as_written(values) -> np.ndarray:
    """float64 of the decimals a 32-bit array's numbers stand for: 150.05 kept in 32 bits reads 150.0500031,
    which a text rounds to 150.1, where the same peak from an MGF, an MSP or a 64-bit mzML gives 150.0."""
    values = np.asarray(values)
    if values.dtype == np.float32:
        return values.astype(str).astype(float)  # numpy writes the shortest decimal that reads back the same
    return values.astype(float)
