"""Spectra files → spectra table (one row per usable spectrum, every other one reported)."""

import contextlib
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..errors import InputError
from ..spectra import Rejected, clean_spectrum, detect_format, read_spectra
from ..spectra.fields import compound_fields, lost_structure, metadata_json, precursor_problem, spectrum_id
from ..streams import atomic_output, display_name, input_path
from ..textualize import TextSettings, choose_template, textualize
from ..textualize.settings import AUTO

BATCH_ROWS = 2048


@dataclass
class TextualizeReport:
    written: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[Rejected] = field(default_factory=list)  # written, with something the user should know
    templates: dict = field(default_factory=dict)
    provenance: dict | None = None  # the spectra table's, which the rejected list carries too


def textualize_files(inputs: list[str], output: str, settings: TextSettings, fmt: str | None = None,
                     progress=None) -> TextualizeReport:
    report = TextualizeReport()
    parameters = {"template": settings.template, "top_n": settings.top_n, "threshold": settings.threshold,
                  "decimals": settings.decimals}
    if settings.peak_choice is not None:
        parameters["peak_choice"] = settings.peak_choice
    step = tables.step_record("textualize", parameters, inputs)
    provenance = tables.new_provenance(tables.SPECTRA, step, settings.identity(), None)
    report.provenance = provenance
    schema = tables.with_provenance(tables.SPECTRA_SCHEMA, provenance)
    seen: dict[str, str] = {}
    with contextlib.ExitStack() as stack, atomic_output(output, ".parquet") as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            rows = []
            for name, label in zip(inputs, _labels(inputs)):
                name_fmt, items = _items(name, fmt, stack)
                # an mzML native id ("scan=2") is unique within its run only: with several runs it takes the
                # file's name, or every run after the first would be rejected as duplicates
                runs = len(inputs) > 1 and name_fmt == "mzml"
                for item in items:
                    if progress is not None:
                        progress.update(1)
                    if isinstance(item, Rejected):
                        row = replace(item, id=f"{label}#{item.id}") if runs and item.id is not None else item
                    else:
                        row = _row(item, settings, seen, report.notes, label, runs)
                    if isinstance(row, Rejected):
                        report.rejected.append(row)
                        continue
                    rows.append(row)
                    report.templates[row["template"]] = report.templates.get(row["template"], 0) + 1
                    if len(rows) >= BATCH_ROWS:
                        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                        report.written += len(rows)
                        rows = []
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                report.written += len(rows)
        if report.written == 0:
            first = f", first: {report.rejected[0].reason}" if report.rejected else ""
            raise InputError(f"{', '.join(display_name(n) for n in inputs)}: no spectrum could be textualized "
                             f"({len(report.rejected)} rejected{first})")
    return report


def _labels(inputs: list[str]) -> list[str]:
    """How the rows name each input: its base name, or the path as given where another input has the same
    base name (r1/run.mgf and r2/run.mgf), whose fallback and mzML ids would collide and whose rows could not
    be told apart."""
    names = [tables.file_label(name) for name in inputs]
    return [display_name(name) if names.count(label) > 1 else label for name, label in zip(inputs, names)]


def _items(name: str, fmt: str | None, stack):
    """The file's format and its spectra."""
    shown = display_name(name)
    path = input_path(name, stack)
    fmt = fmt or detect_format(path, shown)
    return fmt, read_spectra(path, shown, fmt)


def _row(item, settings: TextSettings, seen: dict, notes: list, source: str, qualified: bool = False):
    metadata = item.spectrum.metadata
    sid = spectrum_id(metadata, item.native_id)
    sid = f"{source}#{sid}" if qualified and sid is not None else sid
    place = f"{item.source_file}: spectrum {item.source_index + 1}"
    spectrum, problem = clean_spectrum(item.spectrum)
    problem = problem or precursor_problem(metadata)
    if problem:
        return Rejected(item.source_file, item.source_index, sid, problem)
    fields = compound_fields(spectrum.metadata)
    if settings.template == AUTO and fields["precursor_mz"] is None and (fields["ms_level"] or 0) >= 2:
        # auto would write it as an EI text, and one such row made embed refuse the whole table
        return Rejected(item.source_file, item.source_index, sid,
                        f"MS{fields['ms_level']} spectrum without a precursor m/z "
                        "(msms needs one; ei is for EI spectra)")
    template = choose_template(settings, fields["precursor_mz"], fields["ms_level"])
    text, problem = textualize(spectrum.peaks.mz, spectrum.peaks.intensities, fields["precursor_mz"], template,
                               settings)
    if problem:
        return Rejected(item.source_file, item.source_index, sid, problem)
    if sid is None:
        sid = f"{source}#{item.source_index + 1}"
    if sid in seen:
        return Rejected(item.source_file, item.source_index, sid, f"duplicate id (first at {seen[sid]})")
    seen[sid] = place
    lost = lost_structure(metadata, fields)
    if lost:
        notes.append(Rejected(item.source_file, item.source_index, sid, lost))
    return {"id": sid, "source_file": source, "source_index": item.source_index, "template": template,
            "text": text, "mz": spectrum.peaks.mz.tolist(), "intensities": spectrum.peaks.intensities.tolist(),
            **fields, "metadata_json": metadata_json(spectrum.metadata)}


def write_rejected(rejected: list[Rejected], output: str, provenance: dict) -> None:
    with atomic_output(output, ".tsv") as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(tables.provenance_line({**provenance, "format": tables.REJECTED}))
        handle.write("source_file\tposition\tid\treason\n")
        for item in rejected:
            cells = (item.source_file, item.source_index + 1, item.id, item.reason)
            handle.write("\t".join(tables.tsv_cell(c) for c in cells) + "\n")
