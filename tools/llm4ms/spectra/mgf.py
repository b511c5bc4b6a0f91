"""Where in an MGF file matchms's reader (pyteomics) stopped, which pyteomics's own errors do not say.

pyteomics names neither the record nor the line of a value it cannot convert ("Cannot convert '"b2"' to
Charge"), so the record it stopped in is read again here, line by line with pyteomics's own parsers, to
find the line.
"""

import re
from pathlib import Path

from pyteomics import auxiliary, mgf

# How a record starts as pyteomics reads it (after text_files.plain_text has set its marks right).
RECORD_START = re.compile(rb"^\s*BEGIN IONS")


def count_records(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if RECORD_START.match(line))


def unreadable_line(path: Path, record: int) -> int | None:
    """The 1-based number of the first line of record ``record`` (1-based) that pyteomics cannot read, or
    None if it reads every line of it."""
    seen = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if RECORD_START.match(line.encode()):
                seen += 1
            elif seen == record and line.strip() == "END IONS":
                return None
            elif seen == record and not _reads(line.strip()):
                return number
    return None


def _reads(line: str) -> bool:
    if not line or line[0] in mgf.MGFBase._comments:
        return True
    try:
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key.lower() == "pepmass":
                mgf.MGFBase.parse_pepmass_charge(value)
            elif key.lower() == "charge":
                mgf.MGFBase.parse_precursor_charge(value, True)
            return True
        columns = line.split()
        if len(columns) < 2:  # pyteomics keeps its m/z without an intensity, and matchms then fails on the lengths
            return False
        float(columns[0]), float(columns[1])
        if len(columns) > 2:  # matchms reads the third column as the peak's charge
            mgf.MGFBase.parse_peak_charge(columns[2])
    except (ValueError, auxiliary.PyteomicsError):
        return False
    return True
