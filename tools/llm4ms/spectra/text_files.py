"""Text spectra files (MGF, MSP, JSON) as the matchms readers can take them, and what to say when one is not
text at all."""

import contextlib
import mmap
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError

BOM = b"\xef\xbb\xbf"
GZIP = b"\x1f\x8b"

# What the readers would read past without a word: a byte-order mark where files were joined (`cat` of a
# Windows export) hides the record start or name after it, and pyteomics starts an MGF record only at a
# line that is exactly "BEGIN IONS".
_STRAY = {
    "mgf": re.compile(rb"\xef\xbb\xbf|^[ \t]*(?!(?-i:BEGIN IONS|END IONS)[ \t]*\r?$)(?:begin|end)[ \t]+ions[ \t]*\r?$",
                      re.I | re.M),
    "msp": re.compile(rb"\xef\xbb\xbf"),
    "json": re.compile(rb"\A\xef\xbb\xbf"),
}
_MGF_MARK = re.compile(rb"(?i)[ \t]*(begin|end)[ \t]+ions[ \t]*(\r?\n?)")


def refuse_gzip(head: bytes, name: str) -> None:
    if head.startswith(GZIP):
        raise InputError(f"{name}: gzip-compressed; llm4ms reads uncompressed spectra files",
                         hint=f"decompress it first, or stream it: zcat {name} | llm4ms textualize - ...")


@contextlib.contextmanager
def plain_text(path: Path, name: str, fmt: str):
    """The file itself, refused if gzip-compressed, or, where ``_STRAY`` finds anything, a copy without
    byte-order marks and with MGF's record marks as pyteomics reads them."""
    with open(path, "rb") as handle:
        refuse_gzip(handle.read(len(GZIP)), name)
        if not _has_stray(handle, _STRAY[fmt]):
            yield path
            return
        handle.seek(0)
        with tempfile.TemporaryDirectory(prefix="llm4ms-text-") as folder:
            copy = Path(folder) / path.name
            with open(copy, "wb") as out:
                if fmt == "json":
                    handle.seek(len(BOM))
                    shutil.copyfileobj(handle, out, 1 << 20)
                else:
                    out.writelines(_normal(line, fmt) for line in handle)
            yield copy


def _has_stray(handle, pattern) -> bool:
    handle.seek(0, 2)
    if not handle.tell():
        return False
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return pattern.search(view) is not None


def _normal(line: bytes, fmt: str) -> bytes:
    line = line.replace(BOM, b"")
    if fmt == "mgf":
        mark = _MGF_MARK.fullmatch(line)
        if mark:
            return mark.group(1).upper() + b" IONS" + mark.group(2)
    return line


def not_utf8(name: str, record: int | None, line_number: int, line: bytes, exc: UnicodeDecodeError) -> InputError:
    where = f"spectrum {record}, line {line_number}" if record else f"line {line_number}"
    if b"\x00" in line:  # no text encoding has NUL bytes: a binary file (a vendor .raw, a zip) by a text name
        return InputError(f"{name}: {where}: not a text file (NUL bytes)",
                          hint="textualize reads MGF, MSP, mzML, matchms JSON and llm4ms Parquet")
    return InputError(f"{name}: {where}: not UTF-8 text "
                      f"(byte 0x{line[exc.start]:02X} at column {exc.start + 1})",
                      hint="convert it to UTF-8 first, e.g. iconv -f windows-1252 -t utf-8 (Windows exports are "
                           "often in that encoding)")


def first_not_utf8(path: Path, name: str, record_start=None) -> InputError | None:
    """The error for the file's first line that is not UTF-8, with the record it is in where
    ``record_start`` tells records apart (lines before the first record count as the first's), or None if
    every line decodes."""
    records = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            records += bool(record_start and record_start.match(line))
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return not_utf8(name, max(records, 1) if record_start else None, number, line, exc)
    return None
