"""One entry point over matchms's importers (MGF, MSP, JSON), pymzml (mzML) and our own Parquet.

Readers never drop a spectrum: each yields a SourcedSpectrum or a Rejected with its reason. A file that
cannot be parsed at all raises InputError naming the file and the spectrum where parsing stopped.
"""

import contextlib
import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
from matchms import Spectrum
from matchms.importing import load_from_mgf, load_from_msp

from ..errors import InputError
from .record import Rejected, SourcedSpectrum

_SUFFIXES = {".mgf": "mgf", ".msp": "msp", ".mzml": "mzml", ".json": "json", ".parquet": "parquet"}

# How each text format starts a record; matchms's MSP reader silently drops a record cut off at the end of
# the file, so records are counted independently and a shortfall is an error.
_RECORD_START = {"msp": re.compile(rb"^\s*name\s*:", re.I | re.M), "mgf": re.compile(rb"^\s*BEGIN IONS", re.M)}

# matchms warns once per spectrum about missing metadata it does not need here (EI has no precursor).
logging.getLogger("matchms").setLevel(logging.ERROR)


def detect_format(path: Path, name: str) -> str:
    """Format from the file name, else from the first bytes (stdin, Galaxy's dataset_N.dat)."""
    suffix = _SUFFIXES.get(path.suffix.lower())
    if suffix:
        return suffix
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    _refuse_gzip(head, name)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if "BEGIN IONS" in text:
        return "mgf"
    if text.startswith("<?xml") or "<mzML" in text or "<indexedmzML" in text:
        return "mzml"
    if text[:1] in "[{":
        return "json"
    if any(line.split(":", 1)[0].strip().lower() in ("name", "db#", "num peaks")
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
    with _plain_text(path, name) as readable:
        yield from _read_text_format(readable, name, fmt)


_BOM = b"\xef\xbb\xbf"
_GZIP = b"\x1f\x8b"


def _refuse_gzip(head: bytes, name: str) -> None:
    if head.startswith(_GZIP):
        raise InputError(f"{name}: gzip-compressed; llm4ms reads uncompressed spectra files",
                         hint=f"decompress it first, or stream it: zcat {name} | llm4ms textualize - ...")


@contextlib.contextmanager
def _plain_text(path: Path, name: str):
    """The file as the matchms readers can take it: refused if gzip-compressed, else the file itself or a
    copy without its UTF-8 byte-order mark (Windows editors write one: pyteomics reads ``\\ufeffBEGIN IONS``
    as no record start and skipped the first spectrum without a word)."""
    with open(path, "rb") as handle:
        head = handle.read(len(_BOM))
        _refuse_gzip(head, name)
        if head != _BOM:
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="llm4ms-bom-") as folder:
            copy = Path(folder) / path.name
            with open(copy, "wb") as out:
                shutil.copyfileobj(handle, out, 1 << 20)
            yield copy


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


def _msp_records(filename: str):
    """matchms's MSP reader, with the records whose peak lines disagree with their Num Peaks set aside (as
    their reason): matchms ends a record when it has read Num Peaks peaks, so one wrong count ran into the
    next record and failed the whole file with a message about another spectrum. The count uses matchms's
    own line parsers, so what passes here is read exactly as matchms reads it."""
    reasons = _msp_count_problems(filename)
    if not reasons:
        yield from load_from_msp(filename)
        return
    with tempfile.TemporaryDirectory(prefix="llm4ms-msp-") as folder:
        kept = Path(folder) / "kept.msp"
        with open(filename, "rb") as source, open(kept, "wb") as out:
            for position, lines in _msp_record_lines(source):
                if position not in reasons:
                    out.writelines(lines)
        spectra = load_from_msp(str(kept))
        for position in range(max(reasons) + 1):
            spectrum = reasons.get(position) or next(spectra, None)
            if spectrum is None:
                return  # matchms read fewer records than were kept: read_spectra's count names the file as cut
            yield spectrum
        yield from spectra


_NEGATIVE = re.compile(r"(?<![\w.])-\s*\d[\d.]*(?:[eE][-+]?\d+)?")  # "-1", "-1.5e-2"; not an exponent's sign


def _msp_record_lines(handle):
    """(record position, its lines) in file order; lines before the first record go with the first."""
    position, lines, started = 0, [], False
    for line in handle:
        if _RECORD_START["msp"].match(line):
            if started:
                yield position, lines
                position, lines = position + 1, []
            started = True
        lines.append(line)
    if lines:
        yield position, lines


def _msp_count_problems(filename: str) -> dict:
    """Record position → why it is set aside: a Num Peaks its peak lines disagree with, no peaks (as the MGF
    reader's cleaning says), or a negative number among its peaks, which matchms reads without its sign
    (``50 -1`` becomes a peak of intensity 1; the MGF reader keeps the sign and cleaning rejects it)."""
    from matchms.importing.load_from_msp import (_parse_line_with_peaks, contains_metadata, get_peak_comment,
                                                 parse_metadata)

    reasons, last = {}, None
    with open(filename, "rb") as handle:
        for position, lines in _msp_record_lines(handle):
            params, count, negative = {}, 0, None
            try:
                for line in lines:
                    text = line.decode("utf-8", errors="ignore").rstrip()
                    if not text:
                        continue
                    if contains_metadata(text):
                        parse_metadata(text, params)
                    else:
                        count += len(_parse_line_with_peaks(text)[0])
                        negative = negative or _NEGATIVE.search(get_peak_comment(text)[1])
            except Exception:
                return {}  # a line matchms cannot read at all: its own error names the place
            declared = str(params.get("num peaks", "")).strip()
            if negative:
                reasons[position] = (f"negative number {negative.group(0).strip()!r} in its peak lines "
                                     "(matchms would read it without the sign)")
            elif not declared.isdigit():
                reasons[position] = "no Num Peaks line" if not declared else f"Num Peaks {declared!r} is not a count"
            elif int(declared) != count:
                reasons[position] = f"declares {declared} peaks (Num Peaks) but has {count}"
            elif not count:  # matchms skips such a record, which would read as a file cut short
                reasons[position] = "no peaks"
            last = (position, not negative and (not declared.isdigit() or count < int(declared)))
    # A last record with fewer peaks than declared, or cut before its Num Peaks, is a file cut short: an error
    # of its own (read_spectra), not one spectrum to set aside.
    if last and last[1]:
        reasons.pop(last[0], None)
    return reasons


def _read_text_format(path: Path, name: str, fmt: str):
    loader = {"mgf": load_from_mgf, "msp": _msp_records, "json": _json_records}[fmt]
    position = 0
    try:
        for spectrum in loader(str(path)):
            if isinstance(spectrum, str):
                yield Rejected(name, position, None, spectrum)
            elif spectrum is None:
                yield Rejected(name, position, None, "matchms could not build a spectrum from this record "
                                                     "(no peaks_json)")
            else:
                yield SourcedSpectrum(spectrum, name, position)
            position += 1
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: spectrum {position + 1}: not a text file "
                         f"({exc.reason} at byte {exc.start})") from exc
    except Exception as exc:  # matchms/pyteomics raise many kinds; all mean the file cannot be read on
        if fmt == "mgf" and _count_records(path, fmt) == position + 1 and not _ends_with(path, b"END IONS"):
            raise InputError(f"{name}: spectrum {position + 1}: incomplete record (no END IONS before the end of "
                             "the file); is the file truncated?") from exc
        raise InputError(f"{name}: spectrum {position + 1}: cannot parse {fmt.upper()} "
                         f"({type(exc).__name__}: {exc})") from exc
    if position == 0:
        raise InputError(f"{name}: no spectra found in this {fmt.upper()} file")
    expected = _count_records(path, fmt)
    if expected is not None and expected > position:
        raise InputError(f"{name}: spectrum {position + 1}: incomplete record ({expected} records start in the file, "
                         f"{position} could be read); is the file truncated?")


def _ends_with(path: Path, marker: bytes) -> bool:
    """Whether the last non-blank line of the file is ``marker``."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read().rstrip()
    return tail.endswith(marker)


def _count_records(path: Path, fmt: str) -> int | None:
    pattern = _RECORD_START.get(fmt)
    if pattern is None:
        return None
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            count += bool(pattern.match(line))
    return count


def _read_parquet(path: Path, name: str):
    from .. import tables

    tables.read_provenance(path, name, (tables.SPECTRA, tables.EMBEDDINGS))
    columns = ["id", "mz", "intensities", "metadata_json", "source_file", "source_index"]
    position = 0
    for batch in tables.iter_table_batches(path, 4096, columns):
        for row in batch.to_pylist():
            metadata = json.loads(row["metadata_json"] or "{}")
            metadata.setdefault("spectrum_id", row["id"])
            spectrum = Spectrum(mz=np.asarray(row["mz"], dtype=float),
                                intensities=np.asarray(row["intensities"], dtype=float),
                                metadata=metadata, metadata_harmonization=False)
            yield SourcedSpectrum(spectrum, name, position, native_id=row["id"])
            position += 1
