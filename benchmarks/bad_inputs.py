"""Bad inputs, one by one, through the real `llm4ms` command: what each gets (exit code, stderr lines) and
whether an output file was left behind. The same cases are asserted in tests/test_bad_input.py; this
writes them down as a table for benchmarks/RESULTS.md.
"""

import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .machine import machine
from .report import write_text

TEST_DATA = Path(__file__).resolve().parents[1] / "test-data"
RESULTS = Path(__file__).resolve().parent / "results" / "bad-inputs"


def llm4ms(*args, stdin: bytes | None = None):
    done = subprocess.run([sys.executable, "-m", "llm4ms", *map(str, args)], input=stdin, capture_output=True)
    # the progress bar shares stderr, separated by carriage returns
    lines = [line for line in re.split(r"[\r\n]", done.stderr.decode(errors="replace")) if line.startswith("llm4ms ")]
    return done.returncode, lines


def mgf_blocks() -> list[str]:
    text = (TEST_DATA / "ms2_queries.mgf").read_text()
    return [block + "END IONS\n" for block in text.split("END IONS\n") if "BEGIN IONS" in block]


def with_line(block: str, pattern: str, replacement: str) -> str:
    return re.sub(pattern, replacement, block, count=1, flags=re.M)


def first_peak(block: str, replacement) -> str:
    lines = block.splitlines()
    i = next(n for n, line in enumerate(lines) if line[:1].isdigit())
    lines[i] = replacement(lines[i])
    return "\n".join(line for line in lines if line is not None) + "\n"


def cases(work: Path):
    """(name, what it is, the command's arguments) for each bad input; files are made on the way."""
    blocks = mgf_blocks()
    msp = (TEST_DATA / "ei_queries.msp").read_text()
    mzml = (TEST_DATA / "ms2_queries.mzML").read_bytes()

    def write(name, content):
        path = work / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    out = work / "out.parquet"
    yield "truncated MSP", "ei_queries.msp cut in the middle of its last record", \
        ["textualize", write("cut.msp", msp[: msp.rindex("\n", 0, len(msp) - 40)]), "-o", out]
    yield "truncated MGF", "ms2_queries.mgf cut inside a peak list", \
        ["textualize", write("cut.mgf", "".join(blocks)[:-60]), "-o", out]
    yield "truncated mzML", "ms2_queries.mzML cut in half", ["textualize", write("cut.mzML", mzml[: len(mzml) // 2]),
                                                            "-o", out]
    yield "binary garbage", "2 kB of bytes 0-255", ["textualize", write("garbage.mgf", bytes(range(256)) * 8), "-o",
                                                     out]
    yield "empty file", "0 bytes", ["textualize", write("empty.msp", b""), "-o", out]
    yield "spectrum with no peaks", "second of three MGF spectra without peak lines", \
        ["textualize", write("nopeaks.mgf", blocks[0] + "\n".join(
            line for line in blocks[1].splitlines() if not line[:1].isdigit()) + "\n" + blocks[2]), "-o", out]
    for label, value in (("NaN", "nan"), ("inf", "inf"), ("negative", "-5")):
        yield f"{label} intensity", f"intensity {value} in the second of three spectra", \
            ["textualize", write(f"{label}.mgf", blocks[0] + first_peak(
                blocks[1], lambda line, v=value: f"{line.split()[0]} {v}") + blocks[2]), "-o", out]
    yield "non-numeric m/z", "m/z 'abc' in the second of three spectra", \
        ["textualize", write("abc.mgf", blocks[0] + first_peak(
            blocks[1], lambda line: f"abc {line.split()[1]}") + blocks[2]), "-o", out]
    yield "duplicate spectrum ids", "the first spectrum again at the end", \
        ["textualize", write("dup.mgf", blocks[0] + blocks[1] + blocks[0]), "-o", out]
    yield "precursor m/z 0", "PEPMASS=0 in the second of three spectra", \
        ["textualize", write("p0.mgf", blocks[0] + with_line(blocks[1], r"^PEPMASS=.*$", "PEPMASS=0") + blocks[2]),
         "-o", out]
    yield "precursor missing, msms template", "EI spectra with --template msms", \
        ["textualize", TEST_DATA / "ei_queries.msp", "-o", out, "--template", "msms"]
    yield "MS2 spectrum without precursor", "PEPMASS removed from the second of three spectra (auto template)", \
        ["textualize", write("nopep.mgf", blocks[0] + with_line(blocks[1], r"^PEPMASS=.*\n", "") + blocks[2]),
         "-o", out]
    yield "byte-order mark", "ms2_queries.mgf saved with a UTF-8 byte-order mark", \
        ["textualize", write("bom.mgf", b"\xef\xbb\xbf" + "".join(blocks).encode()), "-o", out]
    fifth = [m.start() for m in re.finditer(r"^Name:", msp, re.M)][4]
    declared = re.compile(r"^Num Peaks: (\d+)", re.M).search(msp, fifth)
    yield "wrong Num Peaks in an MSP record", "the fifth of 12 records declares 3 peaks more than it has", \
        ["textualize", write("count.msp", msp[:declared.start(1)] + str(int(declared.group(1)) + 3)
                             + msp[declared.end(1):]), "-o", out]
    yield "gzip-compressed file", "ms2_queries.mgf gzipped, named .mgf.gz", \
        ["textualize", write("q.mgf.gz", gzip.compress((TEST_DATA / "ms2_queries.mgf").read_bytes(), mtime=0)),
         "-o", out]
    unreadable = with_line(with_line(with_line(blocks[1], r"^SMILES=.*$", "SMILES=C1CC(notasmiles"),
                                     r"^INCHI=.*$", "INCHI=InChI=1S/garbage"), r"^INCHIKEY=.*$", "INCHIKEY=NOT-A-KEY")
    yield "unreadable SMILES/InChI/InChIKey (textualize)", "all three structure fields of one spectrum broken", \
        ["textualize", write("struct.mgf", blocks[0] + unreadable), "-o", work / "struct.parquet"]
    hits = write("hits.tsv", "query_id\trank\tscore\tlibrary_id\tinchikey\n")
    yield "unreadable structure (score)", "score with that table as the truth", \
        ["score", hits, "--truth", work / "struct.parquet", "--summary", work / "s.json"]
    other = work / "other.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["x"]}), other)
    yield "Parquet from another tool", "a Parquet file without llm4ms provenance", ["embed", other, "-o", out]
    spectra = work / "q.parquet"
    subprocess.run([sys.executable, "-m", "llm4ms", "textualize", TEST_DATA / "ms2_queries.mgf", "-o", spectra, "-q"],
                   check=True)
    table = pq.read_table(spectra)
    meta = json.loads(table.schema.metadata[b"llm4ms"])
    meta["format_version"], meta["llm4ms_version"] = 99, "9.0"
    future = work / "future.parquet"
    pq.write_table(table.replace_schema_metadata({b"llm4ms": json.dumps(meta).encode()}), future)
    yield "Parquet from another llm4ms version", "a spectra table claiming format version 99", \
        ["embed", future, "-o", out]
    yield "spectra table where embeddings are needed", "build-index given a spectra table", \
        ["build-index", spectra, "-o", work / "x.index"]
    for layers in ("1", "2"):
        subprocess.run([sys.executable, "-m", "llm4ms", "embed", spectra, "-o", work / f"L{layers}.parquet", "-q",
                        "--adapter", "none", "--layers", layers], check=True)
    subprocess.run([sys.executable, "-m", "llm4ms", "build-index", work / "L2.parquet", "-o", work / "L2.index"],
                   check=True, capture_output=True)
    yield "index built with a different model", "queries embedded with 1 layer, index with 2", \
        ["search", work / "L1.parquet", work / "L2.index", "-o", work / "hits.out.tsv"]
    yield "not an index", "an MGF file given as the index", ["search", work / "L1.parquet", TEST_DATA /
                                                             "ms2_queries.mgf", "-o", work / "hits.out.tsv"]


def bad_inputs(args, command: str):
    work = Path(tempfile.mkdtemp(prefix="llm4ms-bad-"))
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": command, "cases": []}
    for name, what, arguments in cases(work):
        before = set(work.iterdir())
        code, lines = llm4ms(*arguments)
        output = Path(arguments[arguments.index("-o") + 1]) if "-o" in arguments else None
        left = sorted(p.name for p in set(work.iterdir()) - before)
        report["cases"].append({"input": name, "what": what, "command": "llm4ms " + arguments[0], "exit_code": code,
                                "stderr": [line.replace(str(work) + "/", "") for line in lines],
                                "output_written": bool(output and output.exists()), "new_files": left})
        if output is not None and output.exists() and output.name == "out.parquet":
            output.unlink()
        print(f"bad-inputs: {name}: exit {code}", file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "results.json", json.dumps(report, indent=1) + "\n")
    write_text(RESULTS / "results.md", markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    lines = [f"# Bad inputs ({report['date']})", "",
             "| input | what | command | exit | output written | stderr |", "| --- | --- | --- | ---: | --- | --- |"]
    for case in report["cases"]:
        said = "<br>".join(f"`{line}`" for line in case["stderr"]).replace("|", "\\|")
        lines.append(f"| {case['input']} | {case['what']} | `{case['command']}` | {case['exit_code']} | "
                     f"{'yes' if case['output_written'] else 'no'} | {said} |")
    lines += ["", f"Command: `{report['command']}`; machine: {report['machine']}.", ""]
    return "\n".join(lines)
