"""Spectra files as instruments and other tools write them: every record is read or reported, a line that
cannot be read is named, and one spectrum gives one text whatever file it came in."""

import base64
import gzip
import re
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from matchms.exporting import save_as_msp
from matchms.importing import load_from_mgf, load_from_msp

from test_bad_input import fails, mgf_blocks, nothing_written


def texts(cli, path, tmp_path, out="out.parquet"):
    result = cli("textualize", "-q", path, "-o", tmp_path / out)
    assert result.exit_code == 0, result.stderr
    return pq.read_table(tmp_path / out, columns=["id", "text"]).to_pylist(), result.stderr


def msp_records(data):
    return re.split(r"(?=^Name:)", (data / "ei_queries.msp").read_text(), flags=re.M)[1:]


@pytest.mark.parametrize("name, loader", [("ms2_library.mgf", load_from_mgf), ("ei_library.msp", load_from_msp)])
def test_an_msp_file_matchms_wrote_reads_as_its_source(cli, data, tmp_path, name, loader):
    # matchms's save_as_msp names a record COMPOUND_NAME, not Name: llm4ms read the whole file as one record
    save_as_msp(list(loader(str(data / name))), str(tmp_path / "saved.msp"))
    assert "COMPOUND_NAME: " in (tmp_path / "saved.msp").read_text()
    source, _ = texts(cli, data / name, tmp_path, "source.parquet")
    saved, stderr = texts(cli, tmp_path / "saved.msp", tmp_path, "saved.parquet")
    assert saved == source and f"wrote {len(source)} spectra" in stderr and "0 rejected" in stderr


def test_an_msp_record_without_a_name_is_read_not_merged_into_its_neighbour(cli, data, tmp_path):
    records = msp_records(data)
    records[3] = records[3].split("\n", 1)[1]  # its Name: line
    (tmp_path / "anonymous.msp").write_text("".join(records))
    every, _ = texts(cli, data / "ei_queries.msp", tmp_path, "every.parquet")
    read, stderr = texts(cli, tmp_path / "anonymous.msp", tmp_path)
    assert read == every and "0 rejected" in stderr


def test_joined_files_and_lower_case_record_marks_lose_no_spectrum(cli, data, tmp_path):
    # `cat a.mgf b.mgf`, b saved on Windows, puts a byte-order mark before a record start, which pyteomics
    # then reads past with the whole record; so it does a "begin ions" line
    blocks = [block + "END IONS\n" for block in mgf_blocks(data)[:6]]
    blocks[2] = "\ufeff" + blocks[2]
    blocks[4] = blocks[4].replace("BEGIN IONS", "begin ions").replace("END IONS", "End Ions ")
    (tmp_path / "joined.mgf").write_text("".join(blocks), encoding="utf-8")
    (tmp_path / "plain.mgf").write_text("".join(mgf_blocks(data)[:6][i] + "END IONS\n" for i in range(6)))
    plain, _ = texts(cli, tmp_path / "plain.mgf", tmp_path, "plain.parquet")
    joined, stderr = texts(cli, tmp_path / "joined.mgf", tmp_path)
    assert joined == plain and "wrote 6 spectra" in stderr

    records = msp_records(data)
    (tmp_path / "joined.msp").write_text("".join(records[:5]) + "\ufeff" + "".join(records[5:]), encoding="utf-8")
    every, _ = texts(cli, data / "ei_queries.msp", tmp_path, "every.parquet")
    joined, stderr = texts(cli, tmp_path / "joined.msp", tmp_path, "joined.parquet")
    assert joined == every and "0 rejected" in stderr


@pytest.mark.parametrize("suffix", ["mgf", "msp"])
def test_a_latin1_name_is_an_error_naming_its_spectrum_and_line(cli, data, tmp_path, suffix):
    # the MGF error named the spectrum pyteomics had read up to, and the MSP reader dropped the letters
    if suffix == "mgf":
        records = [block + "END IONS\n\n" for block in mgf_blocks(data)[:5]]
        records[3] = records[3].replace("TITLE=", "TITLE=\u00c1cido c\u00edtrico ", 1)
    else:
        records = msp_records(data)[:5]
        records[3] = records[3].replace("Name: ", "Name: \u00c1cido c\u00edtrico ", 1)
    text = "".join(records)
    line = text[: text.index("\u00c1")].count("\n") + 1
    (tmp_path / f"latin.{suffix}").write_bytes(text.encode("latin-1"))
    fails(cli("textualize", "-q", tmp_path / f"latin.{suffix}", "-o", tmp_path / "out.parquet"), 3,
          f"latin.{suffix}: spectrum 4, line {line}: not UTF-8 text (byte 0xC1", "iconv")
    nothing_written(tmp_path, "out.parquet")


@pytest.mark.parametrize("line, message", [
    ("# NIST MS Search export\n", "line 1: '# NIST MS Search export' is neither a 'key: value' line nor peaks"),
    ("Name: x\nNum Peaks: 1\n39 200 'M-CH3'\n\n", "line 3: cannot read this peak line"),
])
def test_an_msp_line_matchms_cannot_read_is_named(cli, data, tmp_path, line, message):
    (tmp_path / "odd.msp").write_text(line + "".join(msp_records(data)[:3]))
    fails(cli("textualize", "-q", tmp_path / "odd.msp", "-o", tmp_path / "out.parquet"), 3, "odd.msp: spectrum 1, "
          + message)



@pytest.mark.parametrize("change, message", [
    (lambda line: line + ' "b2"' if line[:1].isdigit() else None, "cannot parse MGF (PyteomicsError"),
    (lambda line: line.split()[0] if line[:1].isdigit() else None, "cannot parse MGF (AssertionError"),
    (lambda line: "PEPMASS=n/a" if line.startswith("PEPMASS=") else None, "cannot parse MGF (ValueError"),
])
def test_an_mgf_line_pyteomics_cannot_read_is_named(cli, data, tmp_path, change, message):
    # pyteomics's errors name neither record nor line ("Cannot convert '"b2"' to Charge")
    lines = "".join(block + "END IONS\n\n" for block in mgf_blocks(data)[:5]).splitlines()
    third = [i for i, line in enumerate(lines) if line == "BEGIN IONS"][2]
    changed = next(i for i in range(third, len(lines)) if change(lines[i]) is not None)
    lines[changed] = change(lines[changed])
    (tmp_path / "odd.mgf").write_text("\n".join(lines) + "\n")
    line = fails(cli("textualize", "-q", tmp_path / "odd.mgf", "-o", tmp_path / "out.parquet"), 3,
                 f"odd.mgf: spectrum 3, line {changed + 1}: " + message)
    assert ("third column of an MGF peak line" in line) == ('"b2"' in lines[changed])
    nothing_written(tmp_path, "out.parquet")

def test_a_colon_in_a_peak_annotation_sets_aside_its_record_only(cli, data, tmp_path):
    # matchms reads such a peak line as metadata, which cut the record short and ran it into the next
    records = msp_records(data)
    records[2] = re.sub(r"^(Num Peaks: \d+\n\S+\s+\S+)$", r'\1 "Theo: C5H8N3O+"', records[2], count=1, flags=re.M)
    (tmp_path / "noted.msp").write_text("".join(records))
    every, _ = texts(cli, data / "ei_queries.msp", tmp_path, "every.parquet")
    read, stderr = texts(cli, tmp_path / "noted.msp", tmp_path)
    assert read == every[:2] + every[3:]
    assert "noted.msp: spectrum 3: rejected: a ':' in the annotation of the peak on line" in stderr


def _rewritten(xml: str, dtype: str, decimals: int) -> str:
    """The mzML with every array rounded to ``decimals`` and stored as ``dtype`` ("<f8" or "<f4")."""
    def array(match):
        values = np.round(np.frombuffer(zlib.decompress(base64.b64decode(match.group(2))), "<f8"), decimals)
        packed = base64.b64encode(zlib.compress(values.astype(dtype).tobytes())).decode()
        return match.group(1) + packed + match.group(3)

    if dtype == "<f4":
        xml = xml.replace('accession="MS:1000523" name="64-bit float"', 'accession="MS:1000521" name="32-bit float"')
    return re.sub(r"(<binary>)([^<]+)(</binary>)", array, xml)


def test_a_32_bit_mzml_gives_the_texts_of_the_same_peaks_in_64_bits(cli, data, tmp_path):
    # with m/z of two decimals, as many tools write them: 150.05 kept in 32 bits reads 150.0500031, which
    # rounded up where the 64-bit (and the MGF's) 150.05 rounds down
    xml = (data / "ms2_queries.mzML").read_text()
    for bits, dtype in ((32, "<f4"), (64, "<f8")):
        (tmp_path / f"q{bits}.mzML").write_text(_rewritten(xml, dtype, 2))
    wide, _ = texts(cli, tmp_path / "q64.mzML", tmp_path, "q64.parquet")
    narrow, _ = texts(cli, tmp_path / "q32.mzML", tmp_path, "q32.parquet")
    assert narrow == wide


def test_a_gzip_mzml_is_read_by_its_name_and_named_as_such_without_it(cli, data, tmp_path):
    packed = gzip.compress((data / "ms2_queries.mzML").read_bytes())
    (tmp_path / "q.mzML.gz").write_bytes(packed)
    (tmp_path / "q.mzML").write_bytes(packed)
    plain, _ = texts(cli, data / "ms2_queries.mzML", tmp_path, "plain.parquet")
    assert texts(cli, tmp_path / "q.mzML.gz", tmp_path, "gz.parquet")[0] == plain
    fails(cli("textualize", "-q", tmp_path / "q.mzML", "-o", tmp_path / "out.parquet"), 3,
          "q.mzML: gzip-compressed mzML under a name without .gz")
    nothing_written(tmp_path, "out.parquet")


def test_several_mzml_runs_keep_every_scan_under_ids_that_name_their_run(cli, data, tmp_path):
    # native ids ("scan=2") repeat from run to run: every scan of a second run was rejected as a duplicate
    for run in ("runA", "runB"):
        (tmp_path / f"{run}.mzML").write_bytes((data / "ms2_queries.mzML").read_bytes())
    alone, _ = texts(cli, tmp_path / "runA.mzML", tmp_path, "alone.parquet")
    result = cli("textualize", "-q", tmp_path / "runA.mzML", tmp_path / "runB.mzML", "-o", tmp_path / "runs.parquet",
                 "--rejected", tmp_path / "runs.rejected.tsv")
    assert result.exit_code == 0, result.stderr
    rejected = [line.split("\t") for line in (tmp_path / "runs.rejected.tsv").read_text().splitlines()[2:]]
    # the scans set aside (an MS1 scan) name their run as the written ones do
    assert rejected and {(Path(f).name, i.split("#")[0]) for f, _, i, _ in rejected} == {
        ("runA.mzML", "runA.mzML"), ("runB.mzML", "runB.mzML")}
    runs = pq.read_table(tmp_path / "runs.parquet", columns=["id", "text"]).to_pylist()
    assert runs == [{"id": f"{run}.mzML#{row['id']}", "text": row["text"]} for run in ("runA", "runB") for row in alone]
    assert "duplicate" not in result.stderr and f"wrote {2 * len(alone)} spectra" in result.stderr
    again = cli("textualize", "-q", tmp_path / "runA.mzML", tmp_path / "runA.mzML", "-o", tmp_path / "twice.parquet")
    # the same run given twice is still the same spectra twice
    assert again.exit_code == 0 and f"wrote {len(alone)} spectra" in again.stderr and "duplicate id" in again.stderr


def test_files_of_the_same_name_in_two_folders_keep_their_rows_apart(cli, data, tmp_path):
    # spectra without ids take <file>#<n>: two run.mgf of two folders gave the same ids, and every spectrum of
    # the second was rejected as a duplicate of the first
    blocks = [b for b in (data / "ms2_queries.mgf").read_text().split("BEGIN IONS") if b.strip()]
    plain = "".join("BEGIN IONS" + "".join(line + "\n" for line in b.splitlines()
                                           if not line.startswith(("TITLE=", "SPECTRUM_ID="))) for b in blocks)
    for folder in ("r1", "r2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "run.mgf").write_text(plain)
    result = cli("textualize", "-q", tmp_path / "r1" / "run.mgf", tmp_path / "r2" / "run.mgf", "-o",
                 tmp_path / "both.parquet")
    assert result.exit_code == 0 and "; 0 rejected" in result.stderr, result.stderr
    table = pq.read_table(tmp_path / "both.parquet", columns=["id", "source_file"]).to_pylist()
    assert len(table) == 2 * len(blocks) == len({row["id"] for row in table})
    assert {row["source_file"] for row in table} == {str(tmp_path / "r1" / "run.mgf"), str(tmp_path / "r2" / "run.mgf")}
    assert table[0]["id"] == f"{tmp_path / 'r1' / 'run.mgf'}#1"
    # one folder's file alone keeps its base name
    assert cli("textualize", "-q", tmp_path / "r1" / "run.mgf", "-o", tmp_path / "one.parquet").exit_code == 0
    assert pq.read_table(tmp_path / "one.parquet", columns=["id"]).column("id")[0].as_py() == "run.mgf#1"


def test_a_truncated_mzml_is_one_line_on_stderr(data, tmp_path):
    # pymzml logged three lines of its own about the index first; in a process of its own, as a job runs it
    # (pytest's log capture would hide them in-process)
    import subprocess
    import sys

    raw = (data / "ms2_queries.mzML").read_bytes()
    (tmp_path / "cut.mzML").write_bytes(raw[: raw.index(b'<spectrum index="5"') + 150])
    done = subprocess.run([sys.executable, "-m", "llm4ms", "textualize", "-q", str(tmp_path / "cut.mzML"), "-o",
                           str(tmp_path / "out.parquet")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()] and "cut.mzML: scan 6: cannot parse mzML" in done.stderr
    nothing_written(tmp_path, "out.parquet")
