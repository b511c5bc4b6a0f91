"""One entry point over matchms's importers (MGF, MSP, JSON), pymzml (mzML) and our own Parquet.

Readers never drop a spectrum: each yields a SourcedSpectrum or a Rejected with its reason. A file that
cannot be parsed at all raises InputError naming the file and the spectrum where parsing stopped.
"""

import json
import logging
from pathlib import Path

import numpy as np
from matchms import Spectrum
from matchms.importing import load_from_mgf

from ..errors import InputError
from . import mgf, msp
from .record import Rejected, SourcedSpectrum
from .text_files import first_not_utf8, plain_text, refuse_gzip

_SUFFIXES = {".mgf": "mgf", ".msp": "msp", ".mzml": "mzml", ".json": "json", ".parquet": "parquet"}

_MGF_THIRD_COLUMN = ("matchms reads a third column of an MGF peak line as the peak's charge (2+, 1-); "
                     "remove the peak annotations")

# matchms warns once per spectrum about missing metadata it does not need here (EI has no precursor).
logging.getLogger("matchms").setLevel(logging.ERROR)


def detect_format(path: Path, name: str) -> str:
    """Format from the file name, else from the first bytes (stdin, Galaxy's dataset_N.dat)."""
    suffix = _SUFFIXES.get(path.suffix.lower())
    if suffix:
        return suffix
    if [part.lower() for part in path.suffixes[-2:]] == [".mzml", ".gz"]:
        return "mzml"  # pymzml reads a gzip-compressed mzML by that name
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    refuse_gzip(head, name)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if "BEGIN IONS" in text:
        return "mgf"
    if text.startswith("<?xml") or "<mzML" in text or "<indexedmzML" in text:
        return "mzml"
    if text[:1] in "[{":
        return "json"
    if any(line.split(":", 1)[0].strip().lower() in ("name", "compound_name", "db#", "num peaks")
           for line in text.splitlines()[:50] if ":" in line):
        return "msp"
    raise InputError(f"{name}: cannot tell the spectra format (not MGF, MSP, mzML, matchms JSON or llm4ms Parquet)",
                     hint="give the file a .mgf/.msp/.mzML/.json/.parquet name or pass --format")


def read_spectra(path: Path, name: str, fmt: str):
    """Yield SourcedSpectrum or Rejected for every spectrum of the file, in file order."""
    if fmt == "mzml":
        from .mzml import read_mzml
        yield from read_mzml(path, name)
        return
    if fmt == "parquet":
        yield from _read_parquet(path, name)
        return
    with plain_text(path, name, fmt) as readable:
        yield from _read_text_format(readable, name, fmt)


def _json_records(filename: str):
    """matchms's JSON importer, one record at a time: load_from_json leaves out the records it cannot use
    (no peaks_json), so they could not be reported."""
    from matchms.importing.load_from_json import as_spectrum

    with open(filename, "rb") as handle:
        records = json.load(handle)
    if not isinstance(records, list):
        raise ValueError("the file is not a list of spectrum records")
    for record in records:
        yield as_spectrum(record) if isinstance(record, dict) else None


def _read_text_format(path: Path, name: str, fmt: str):
    if fmt == "msp":
        spectra = msp.MspSpectra(str(path), name)
    else:
        spectra = (load_from_mgf if fmt == "mgf" else _json_records)(str(path))
    position = 0
    try:
        for spectrum in spectra:
            if isinstance(spectrum, str):
                yield Rejected(name, position, None, spectrum)
            elif spectrum is None:
                yield Rejected(name, position, None, "matchms could not build a spectrum from this record "
                                                     "(no peaks_json)")
            else:
                yield SourcedSpectrum(spectrum, name, position)
            position += 1
    except InputError:
        raise
    except UnicodeDecodeError as exc:  # pyteomics reads ahead: the spectra read so far do not say where
        raise first_not_utf8(path, name, mgf.RECORD_START if fmt == "mgf" else None) or InputError(
            f"{name}: not UTF-8 text ({exc.reason})") from exc
    except Exception as exc:  # matchms/pyteomics raise many kinds; all mean the file cannot be read on
        if fmt == "mgf" and mgf.count_records(path) == position + 1 and not _ends_with(path, b"END IONS"):
            raise InputError(f"{name}: spectrum {position + 1}: incomplete record (no END IONS before the end of "
                             "the file); is the file truncated?") from exc
        line = mgf.unreadable_line(path, position + 1) if fmt == "mgf" else None
        where = f"spectrum {position + 1}" + (f", line {line}" if line else "")
        raise InputError(f"{name}: {where}: cannot parse {fmt.upper()} ({type(exc).__name__}: {exc})",
                         hint=_MGF_THIRD_COLUMN if line and "Charge" in str(exc) else None) from exc
    if position == 0:
        raise InputError(f"{name}: no spectra found in this {fmt.upper()} file")
    expected = spectra.records if fmt == "msp" else mgf.count_records(path) if fmt == "mgf" else None
    if expected is not None and expected > position:
        raise InputError(f"{name}: spectrum {position + 1}: incomplete record ({expected} records start in the file, "
                         f"{position} could be read); is the file truncated?")


def _ends_with(path: Path, marker: bytes) -> bool:
    """Whether the last non-blank line of the file is ``marker``."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read().rstrip()
    return tail.endswith(marker)


def _read_parquet(path: Path, name: str):
    from .. import tables

    tables.read_provenance(path, name, (tables.SPECTRA, tables.EMBEDDINGS))
    columns = ["id", "mz", "intensities", "metadata_json", "source_file", "source_index"]
    position = 0
    for batch in tables.iter_table_batches(path, name, 4096, columns):
        for row in batch.to_pylist():
            metadata = json.loads(row["metadata_json"] or "{}")
            metadata.setdefault("spectrum_id", row["id"])
            if "num_peaks" in metadata:
                # A table's rows are whole (written to a temporary file, then renamed), so its peaks are the
                # count; tables written before 2026-12-08 kept the source file's, which held the
                # zero-intensity peaks cleaning drops, and textualizing them again rejected those rows.
                metadata["num_peaks"] = str(len(row["mz"]))
            spectrum = Spectrum(mz=np.asarray(row["mz"], dtype=float),
                                intensities=np.asarray(row["intensities"], dtype=float),
                                metadata=metadata, metadata_harmonization=False)
            yield SourcedSpectrum(spectrum, name, position, native_id=row["id"])
            position += 1
