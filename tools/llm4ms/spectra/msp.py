"""MSP through matchms's reader, with the records set out by a pass of our own first.

matchms ends a record when it has read Num Peaks peaks and drops one cut off at the end of the file without
a word, so one wrong count runs into the next record and a short file looks whole; it also decodes with
``errors="ignore"``, which turns a Latin-1 "Ácido" into "cido". The pass here finds each record's
boundaries itself, sets aside the records matchms would misread (with the reason), and names the line of
anything that cannot be read at all.
"""

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from matchms.importing import load_from_msp
from matchms.importing.load_from_msp import _parse_line_with_peaks, contains_metadata, get_peak_comment, parse_metadata

from ..errors import InputError
from .text_files import not_utf8

# NIST, MassBank and MS-DIAL write "Name:", matchms's own save_as_msp "COMPOUND_NAME:"; neither is required.
NAME_KEYS = ("name", "compound_name")
_NEGATIVE = re.compile(r"(?<![\w.])-\s*\d[\d.]*(?:[eE][-+]?\d+)?")  # "-1", "-1.5e-2"; not an exponent's sign
_NUMBER = re.compile(r"\d")
# A peak line whose quoted annotation has a colon ("110.07 300 \"Theo: C5H8N3O+\""), which matchms takes for
# metadata; read as a peak line here, so that its record is set aside instead of split in two.
_NOTED_PEAK = re.compile(r"\s*\d[\d.eE+-]*[\s,;]+\d[\d.eE+-]*[\s,;]*[\"'][^:]*:")


def _is_metadata(stripped: str) -> bool:
    return contains_metadata(stripped) and not _NOTED_PEAK.match(stripped)


@dataclass
class Record:
    position: int  # 0-based, in file order
    first_line: int  # 1-based line of the file where the record's lines start
    lines: list = field(default_factory=list)  # raw bytes, line ends kept
    texts: list = field(default_factory=list)  # the same lines decoded and stripped of their ends


def records(path: Path, name: str):
    """The file's records in order. A record is its metadata lines and then its peak lines: a metadata line
    after a peak line starts the next record, and so does a second name or a second Num Peaks, so that a
    record without peaks is not merged into the next. Lines before the first record go with the first."""
    current, keys, peaks = Record(0, 1), set(), False
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                text, bad = line.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as exc:  # raised below, once the line's record is known
                text, bad = line.decode("utf-8", errors="replace").rstrip("\r\n"), exc
            stripped = text.strip()
            if stripped and _is_metadata(stripped):
                key = stripped.split(":", 1)[0].strip().lower()
                key = "name" if key in NAME_KEYS else key
                if current.lines and (peaks or key in keys & {"name", "num peaks"}):
                    yield current
                    current, keys, peaks = Record(current.position + 1, number), set(), False
                keys.add(key)
            elif _NUMBER.search(stripped):
                peaks = True
            if bad:
                raise not_utf8(name, current.position + 1, number, line, bad)
            current.lines.append(line)
            current.texts.append(text)
    if current.lines:
        yield current


class MspSpectra:
    """matchms's spectra of the file, with a reason (a str) in place of each record set aside, in file order.
    Once iterated, ``records`` is how many records start in the file: the caller's check for a file cut short
    (matchms drops a last record cut inside its peaks) needs it, and a pass of its own would split the file
    once more."""

    def __init__(self, filename: str, name: str):
        self.filename, self.name, self.records = filename, name, None

    def __iter__(self):
        reasons, self.records = _problems(Path(self.filename), self.name)
        if not reasons:
            yield from load_from_msp(self.filename)
            return
        with tempfile.TemporaryDirectory(prefix="llm4ms-msp-") as folder:
            kept = Path(folder) / "kept.msp"
            with open(kept, "wb") as out:
                for record in records(Path(self.filename), self.name):
                    if record.position not in reasons:
                        out.writelines(record.lines)
                        out.write(b"\n")  # a record's last line may lack its end; matchms needs lines apart
            spectra = load_from_msp(str(kept))
            for position in range(max(reasons) + 1):
                spectrum = reasons.get(position) or next(spectra, None)
                if spectrum is None:
                    return  # matchms read fewer records than were kept: the caller's count names the file as cut
                yield spectrum
            yield from spectra


def _problems(path: Path, name: str) -> tuple[dict, int]:
    """Record position → why it is set aside, and how many records the file holds. A record is set aside for
    a Num Peaks its peak lines disagree with, no peaks (as the MGF reader's cleaning says), or a negative
    number among its peaks, which matchms reads without its sign (``50 -1`` becomes a peak of intensity 1;
    the MGF reader keeps the sign and cleaning rejects it). The peaks are counted with matchms's own line
    parsers, so what passes here is read exactly as matchms reads it; a line those parsers cannot take is an
    error naming it."""
    reasons, last, total = {}, None, 0
    for record in records(path, name):
        total += 1
        params, count, negative, noted = {}, 0, None, None
        for offset, text in enumerate(record.texts):
            stripped = text.strip()
            if not stripped:
                continue
            if _is_metadata(stripped):
                parse_metadata(stripped, params)
                continue
            where = f"{name}: spectrum {record.position + 1}, line {record.first_line + offset}"
            if contains_metadata(stripped):
                noted = noted or record.first_line + offset
                continue
            if not _NUMBER.search(stripped) and "num peaks" not in params:
                raise InputError(f"{where}: {stripped[:60]!r} is neither a 'key: value' line nor peaks",
                                 hint="remove the line; MSP has no comment lines")
            try:
                count += len(_parse_line_with_peaks(stripped)[0])
                negative = negative or _NEGATIVE.search(get_peak_comment(stripped)[1])
            except Exception as exc:  # matchms raises RuntimeError and ValueError here; both mean this line
                hint = ("matchms reads a peak's annotation only in double quotes" if "'" in stripped
                        and '"' not in stripped else "a peak line is pairs of m/z and intensity")
                raise InputError(f"{where}: cannot read this peak line ({stripped[:60]!r}: {exc})", hint=hint) from exc
        declared = str(params.get("num peaks", "")).strip()
        if noted:
            reasons[record.position] = (f"a ':' in the annotation of the peak on line {noted}, which matchms "
                                        "would read as metadata")
        elif negative:
            reasons[record.position] = (f"negative number {negative.group(0).strip()!r} in its peak lines "
                                        "(matchms would read it without the sign)")
        elif not declared.isdigit():
            reasons[record.position] = "no Num Peaks line" if not declared else f"Num Peaks {declared!r} is not a count"
        elif int(declared) != count:
            reasons[record.position] = f"declares {declared} peaks (Num Peaks) but has {count}"
        elif not count:  # matchms skips such a record, which would read as a file cut short
            reasons[record.position] = "no peaks"
        last = (record.position, not negative and (not declared.isdigit() or count < int(declared)))
    # A last record with fewer peaks than declared, or cut before its Num Peaks, is a file cut short: an error
    # of its own (the caller's count), not one spectrum to set aside.
    if last and last[1]:
        reasons.pop(last[0], None)
    return reasons, total
