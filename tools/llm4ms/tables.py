"""The Parquet tables that the commands exchange, and the provenance each one carries.

Provenance is JSON under the Parquet key-value metadata key ``llm4ms`` (see docs/formats.md). It holds
the identities that decide whether two files may meet: the textualization settings and the model
(backbone fingerprint, adapter fingerprint, pooling, layers). Run-specific values such as device or
batch size are recorded in the history but never compared, and nothing time-dependent is written, so
the same inputs give byte-identical files.
"""

import contextlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .errors import IncompatibleError, InputError
from .streams import display_name
from .textualize.settings import differing_templates

PROVENANCE_KEY = b"llm4ms"
FORMAT_VERSION = 1

SPECTRA = "llm4ms.spectra"
EMBEDDINGS = "llm4ms.embeddings"
HITS = "llm4ms.hits"
REJECTED = "llm4ms.rejected"  # textualize --rejected
PER_QUERY = "llm4ms.per-query"  # score -o
RECALL_PLOT = "llm4ms.recall-plot"  # score --plot, in the PNG's "llm4ms" text chunk
TSV_PREFIX = "# llm4ms "  # the first line of a TSV output: its provenance as JSON
_DAMAGED_HINT = "make it again; a copy may have stopped half-way"

SPECTRA_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("source_file", pa.string()),
    pa.field("source_index", pa.int64()),
    pa.field("template", pa.string()),
    pa.field("text", pa.string()),
    pa.field("mz", pa.list_(pa.float64())),
    pa.field("intensities", pa.list_(pa.float64())),
    pa.field("precursor_mz", pa.float64()),
    pa.field("ms_level", pa.int32()),
    pa.field("ion_mode", pa.string()),
    pa.field("name", pa.string()),
    pa.field("inchikey", pa.string()),
    pa.field("smiles", pa.string()),
    pa.field("adduct", pa.string()),
    pa.field("formula", pa.string()),
    pa.field("metadata_json", pa.string()),
]
SPECTRA_SCHEMA = pa.schema(SPECTRA_FIELDS)


def embeddings_schema(dim: int) -> pa.Schema:
    return pa.schema(SPECTRA_FIELDS + [pa.field("embedding", pa.list_(pa.float32(), dim))])


def new_provenance(kind: str, step: dict, textualization: dict | None, model: dict | None,
                   history: list | None = None) -> dict:
    return {
        "format": kind,
        "format_version": FORMAT_VERSION,
        "llm4ms_version": __version__,
        "textualization": textualization,
        "model": model,
        "history": list(history or []) + [step],
    }


def file_label(path: str) -> str:
    """How provenance names a file: its base name, so outputs do not depend on where a job ran; bytes that
    are not UTF-8 as \\x escapes, as messages give them (JSON could not hold them otherwise)."""
    return display_name(Path(path).name) if path != "-" else "-"


def step_record(command: str, parameters: dict, inputs: list[str]) -> dict:
    return {"step": command, "llm4ms_version": __version__, "parameters": parameters,
            "inputs": [file_label(p) for p in inputs]}


def with_provenance(schema: pa.Schema, provenance: dict) -> pa.Schema:
    return schema.with_metadata({PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode()})


def read_provenance(path: Path, name: str, kinds: tuple[str, ...]) -> dict:
    """Provenance of an llm4ms Parquet file, refusing other tools' files and other format versions."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head == b"PK\x03\x04":  # a zip: what build-index writes
            raise InputError(f"{name}: an llm4ms index (or another zip file), not a table",
                             hint="search takes the index as its second argument; give here the table it was "
                                  "built from") from exc
        if head == b"PAR1":
            raise InputError(f"{name}: a damaged or truncated Parquet file ({exc})", hint=_DAMAGED_HINT) from exc
        raise InputError(f"{name}: not a Parquet file ({exc})",
                         hint="textualize reads MGF/MSP/mzML/JSON; the other commands read llm4ms Parquet") from exc
    raw = (schema.metadata or {}).get(PROVENANCE_KEY)
    if raw is None:
        raise IncompatibleError(f"{name}: Parquet file has no llm4ms provenance; it was not written by llm4ms",
                                hint="make it with 'llm4ms textualize' or 'llm4ms embed'")
    provenance = check_provenance(json.loads(raw), name, kinds)
    # A table rewritten by another tool can keep the metadata and lose columns; every step would then fail
    # on its first read with a KeyError, far from the cause.
    required = {SPECTRA: SPECTRA_SCHEMA.names, EMBEDDINGS: SPECTRA_SCHEMA.names + ["embedding"]}
    missing = [column for column in required.get(provenance["format"], []) if column not in schema.names]
    if missing:
        raise InputError(f"{name}: an {provenance['format']} table without the column(s) {', '.join(missing)}; "
                         "was it rewritten by another tool?", hint="make it again with llm4ms")
    return provenance


def check_provenance(provenance: dict, name: str, kinds: tuple[str, ...]) -> dict:
    if provenance.get("format_version") != FORMAT_VERSION:
        raise IncompatibleError(
            f"{name}: llm4ms table format version {provenance.get('format_version')} "
            f"(written by llm4ms {provenance.get('llm4ms_version')}); this llm4ms {__version__} reads version "
            f"{FORMAT_VERSION}", hint="re-run the earlier steps with this llm4ms version")
    if provenance.get("format") not in kinds:
        raise IncompatibleError(f"{name}: is an {provenance.get('format')} table; this step needs "
                                + " or ".join(kinds))
    return provenance


def describe_model(model: dict | None) -> str:
    if not model:
        return "no model"
    adapter = model.get("adapter")
    text = f"{model.get('name')} [{model.get('fingerprint', '')[:12]}], layers={model.get('layers')}, " \
           f"pooling={model.get('pooling')}"
    text += (f", adapter {adapter.get('name')} [{adapter.get('fingerprint', '')[:12]}]" if adapter
             else ", no adapter")
    return text + (f", also from {model['also_peak_choice']} texts" if model.get("also_peak_choice") else "")


def model_identity(model: dict | None) -> dict | None:
    """The parts of a model record that change the vectors (not device, dtype or batch size)."""
    if model is None:
        return None
    keys = ("fingerprint", "layers", "pooling", "max_length", "dim", "also_peak_choice")
    identity = {k: model.get(k) for k in keys}
    adapter = model.get("adapter")
    identity["adapter"] = adapter.get("fingerprint") if adapter else None
    return identity


def require_same_space(first: dict, first_name: str, second: dict, second_name: str, templates) -> None:
    """Refuse to compare vectors that were made by different models or from different texts; ``templates``:
    those of the two tables' rows, whose settings must agree (no other template's matter)."""
    if model_identity(first["model"]) != model_identity(second["model"]):
        raise IncompatibleError(
            f"{first_name} was embedded with {describe_model(first['model'])}, but {second_name} with "
            f"{describe_model(second['model'])}",
            hint="embed both with the same --model, --adapter, --layers and --also-peak-choice")
    differ = differing_templates(first["textualization"], second["textualization"], templates)
    if differ:
        def settings_of(provenance):
            identity = provenance["textualization"]
            return json.dumps({"templates_version": identity.get("templates_version")} | {
                t: identity["templates"].get(t) for t in differ if t in identity.get("templates", {})},
                sort_keys=True)

        raise IncompatibleError(
            f"{first_name} was textualized with {settings_of(first)}, but {second_name} with {settings_of(second)}",
            hint="textualize queries and library with the same --template/--top-n/--threshold/--decimals")


def provenance_line(provenance: dict) -> str:
    return TSV_PREFIX + json.dumps(provenance, sort_keys=True) + "\n"


def tsv_cell(value) -> str:
    """A TSV cell: empty for missing, 10 significant digits (m/z above 1000 keeps 4+ decimals), no tabs."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.10g}"
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


@contextlib.contextmanager
def _data_read(name: str):
    """A data page that cannot be read (its file damaged where the footer is whole, which read_provenance
    cannot see) named by its file: pyarrow's error names none ("Couldn't deserialize thrift")."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{name}: a damaged Parquet file: its data cannot be read ({exc})",
                         hint=_DAMAGED_HINT) from exc


class _Parquet(pq.ParquetFile):
    """A Parquet file to stream chunk by chunk. Without pre-buffering: with it (pyarrow's default),
    ``iter_batches`` keeps every column chunk it has read until the iteration ends, i.e. the whole file."""

    def __init__(self, path: Path, name: str):
        super().__init__(path, pre_buffer=False)
        self.name = name

    def iter_batches(self, **options):
        batches = super().iter_batches(**options)
        while True:
            with _data_read(self.name):
                batch = next(batches, None)
            if batch is None:
                return
            yield batch


def open_parquet(path: Path, name: str) -> pq.ParquetFile:
    return _Parquet(path, name)


def read_table(path: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    with _data_read(name):
        return pq.read_table(path, columns=columns)


def table_templates(path: Path, name: str) -> set[str]:
    """The templates a table's rows were written with (what picks and checks the adapter, and which
    textualization settings two tables must share)."""
    return set(read_table(path, name, ["template"]).column("template").to_pylist()) - {None}


def iter_table_batches(path: Path, name: str, batch_size: int, columns: list[str] | None = None):
    return open_parquet(path, name).iter_batches(batch_size=batch_size, columns=columns)


def write_table(path: Path, table: pa.Table, provenance: dict) -> None:
    pq.write_table(table.replace_schema_metadata(with_provenance(table.schema, provenance).metadata), path)
