"""Peak memory of embedding and indexing as the library grows: `llm4ms embed` and `llm4ms build-index` run
in their own processes on N spectra (the MS/MS dev library tiled to N with unique ids), and each reports
its own peak resident memory (VmHWM). Bounded memory means the peak does not grow with N.

--embed-args passes options to embed, e.g. "--adapter none --layers 1" to measure 100,000 spectra in
minutes instead of the hour the default 12-layer encoder takes on 2 cores: the model is loaded whole
before its layers are cut, so its share of the peak is the same, and what could grow with N (chunks of
texts and vectors, the Parquet writer) is the same code. Both are run at 10,000 to show they agree.
"""

import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llm4ms.steps.textualize import textualize_files
from llm4ms.textualize import TextSettings

from .data import DATA
from .machine import machine
from .report import write_text
from .scale import run_with_peak

RESULTS = Path(__file__).resolve().parent / "results" / "memory"


def tiled_spectra(source: Path, size: int, out: Path) -> None:
    """``size`` rows of the spectra table ``source``, cycled, ids made unique, written in row groups."""
    table = pq.read_table(source)
    with pq.ParquetWriter(out, table.schema) as writer:
        for start in range(0, size, len(table)):
            chunk = table.slice(0, min(len(table), size - start))
            ids = pc.binary_join_element_wise(chunk.column("id"), pa.array([str(start)] * len(chunk)), "~")
            chunk = chunk.set_column(chunk.schema.get_field_index("id"), "id", ids)
            writer.write_table(chunk.cast(table.schema))


def memory(args, command: str):
    work = Path(tempfile.mkdtemp(prefix="llm4ms-memory-"))
    spectra = work / "library.parquet"
    textualize_files([str(DATA / "ms2pos_library.mgf")], str(spectra), TextSettings())
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": command, "runs": []}
    for spec in args.runs:
        size_text, _, embed_args = spec.partition(":")
        size = int(float(size_text))
        table = work / f"spectra-{size}.parquet"
        tiled_spectra(spectra, size, table)
        embedded = work / f"emb-{size}.parquet"
        row = {"spectra": size, "embed_args": embed_args,
               "embed": run_with_peak(["embed", str(table), "-o", str(embedded), "-q", *shlex.split(embed_args)])}
        row["embed"]["spectra_per_s"] = round(size / row["embed"]["seconds"], 1)
        for kind in args.kinds:
            row[f"build-index {kind}"] = run_with_peak(["build-index", str(embedded), "-o", str(work / "x.index"),
                                                        "--kind", kind])
        for path in (table, embedded, work / "x.index"):
            path.unlink(missing_ok=True)
        report["runs"].append(row)
        print(f"memory: {json.dumps(row)}", file=sys.stderr, flush=True)
    spectra.unlink()
    work.rmdir()
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "results.json", json.dumps(report, indent=1) + "\n")
    write_text(RESULTS / "results.md", markdown(report, args.kinds))
    print(markdown(report, args.kinds))


def markdown(report: dict, kinds: list[str]) -> str:
    lines = [f"# Peak memory ({report['date']})", "",
             "| spectra | embed options | embed s | embed spectra/s | embed peak RSS MB | " +
             " | ".join(f"build-index {k} peak RSS MB" for k in kinds) + " |",
             "| ---: | --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in kinds) + " |"]
    for row in report["runs"]:
        lines.append(f"| {row['spectra']:,} | {row['embed_args'] or '(defaults)'} | {row['embed']['seconds']} | "
                     f"{row['embed']['spectra_per_s']} | {row['embed']['peak_rss_mb']:,} | " +
                     " | ".join(f"{row[f'build-index {k}']['peak_rss_mb']:,}" for k in kinds) + " |")
    lines += ["", f"Command: `{report['command']}`; machine: {report['machine']}.", ""]
    return "\n".join(lines)
