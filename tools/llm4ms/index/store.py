"""The index file: a zip (stored, fixed timestamps, so identical inputs give identical bytes) holding

- ``provenance.json``: the embeddings' provenance plus the build-index step and the index kind;
- ``library.parquet``: every library column except the vectors, in index row order;
- ``vectors.faiss``: the faiss index (``faiss.write_index``) of the kind recorded (index/kinds.py).

One file keeps Galaxy datasets and pipeline channels simple; a zip keeps it inspectable (``unzip -l``).
"""

import contextlib
import json
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..errors import IncompatibleError, InputError
from ..streams import atomic_output, display_name, input_path
from .kinds import IndexOptions, index_record, new_index

INDEX_FORMAT = "llm4ms.index"
_EPOCH = (1980, 1, 1, 0, 0, 0)
CHUNK_ROWS = 16384  # vectors read per chunk: 36 MB at 576 dimensions
LIBRARY_ROW_GROUP = 65536  # rows per row group of library.parquet
_FACTS = ("metric", "size", "dim")  # facts of the index record; the rest are what build-index was asked for
# A member of 2 GiB or more needs zip64 headers, which must be asked for before a stream of unknown length;
# judged by the vectors' size alone, so from 1 GiB on, leaving room for an HNSW graph.
_ZIP64_FROM = 1 << 30
FLAT = IndexOptions()  # the default index; frozen, so one instance serves every call


@dataclass
class LibraryIndex:
    faiss_index: object
    library: pa.Table
    provenance: dict
    name: str
    # what searches derive from the library once per index, not per chunk of queries (index/search.py)
    derived: dict = field(default_factory=dict, repr=False)


def vectors_of(column: pa.ChunkedArray) -> np.ndarray:
    flat = column.combine_chunks()
    return np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(flat), -1)


def build_index(source: str, output: str, options: IndexOptions = FLAT,
                chunk_rows: int = CHUNK_ROWS, progress_factory=None) -> int:
    """Index the embeddings table ``source`` into ``output``, reading the vectors chunk by chunk so that they
    are held once, inside the faiss index (IVF kinds first read a training sample in a separate pass).

    ``progress_factory(total)`` gives a bar advanced by the spectra added: an HNSW graph of a million
    spectra takes minutes to link on two cores."""
    import faiss

    name = display_name(source)
    with contextlib.ExitStack() as stack:
        path = input_path(source, stack)
        provenance = tables.read_provenance(path, name, (tables.EMBEDDINGS,))
        parquet = tables.open_parquet(path, name)
        size, dim = parquet.metadata.num_rows, parquet.schema_arrow.field("embedding").type.list_size
        if size == 0:
            raise InputError(f"{name}: no embeddings to index")
        record = index_record(options, dim, size, name)
        index = new_index(record)
        step = tables.step_record("build-index", {k: v for k, v in record.items() if k not in _FACTS},
                                  [source])
        out = dict(provenance, format=INDEX_FORMAT, history=provenance["history"] + [step], index=record)
        with atomic_output(output, ".index") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(zipfile.ZipInfo("provenance.json", _EPOCH),
                             json.dumps(out, indent=1, sort_keys=True).encode())
            # Both big members are streamed into the zip, the library before a vector is read: held in memory
            # they would cost their size again (the vectors twice over with faiss.serialize_index).
            with archive.open(zipfile.ZipInfo("library.parquet", _EPOCH), "w",
                              force_zip64=_library_bytes(parquet) >= _ZIP64_FROM) as member:
                write_library(parquet, chunk_rows, _Sink(member))
            _reserve(index, size)
            if record.get("train_size"):
                index.train(_sample(parquet, record["train_size"], chunk_rows))
            progress = progress_factory(size) if progress_factory else None
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=["embedding"]):
                index.add(vectors_of(pa.chunked_array([batch.column(0)])))
                if progress is not None:
                    progress.update(batch.num_rows)
            if progress is not None:
                progress.close()
            with archive.open(zipfile.ZipInfo("vectors.faiss", _EPOCH), "w",
                              force_zip64=size * dim * 4 >= _ZIP64_FROM) as member:
                faiss.write_index(index, faiss.PyCallbackIOWriter(member.write))
    return int(index.ntotal)


class _Sink:
    """A zip member as pyarrow's output: pyarrow asks for the position (tell), which a zip member lacks."""

    closed = False

    def __init__(self, member):
        self.member, self.position = member, 0

    def write(self, data) -> int:
        self.position += self.member.write(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass


def _library_bytes(parquet: pq.ParquetFile) -> int:
    """About how many bytes library.parquet takes: the input's compressed columns other than the vectors."""
    meta, names = parquet.metadata, parquet.schema_arrow.names
    return sum(meta.row_group(g).column(c).total_compressed_size for g in range(meta.num_row_groups)
               for c in range(meta.num_columns) if names[c] != "embedding")


def write_library(parquet: pq.ParquetFile, chunk_rows: int, sink) -> None:
    """The library's Parquet (every column but the vectors), streamed chunk by chunk into ``sink``. Row
    groups have a fixed size, so the bytes do not depend on the chunk size or the input's row groups."""
    columns = [c for c in parquet.schema_arrow.names if c != "embedding"]
    pending, rows = [], 0
    with pq.ParquetWriter(sink, pa.schema([parquet.schema_arrow.field(c) for c in columns])) as writer:
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            pending.append(batch)
            rows += batch.num_rows
            if rows >= LIBRARY_ROW_GROUP:
                table = pa.Table.from_batches(pending)
                full = rows - rows % LIBRARY_ROW_GROUP
                # one array per column: pyarrow starts data pages at the chunks' boundaries, so a table of
                # several chunks would write other bytes for the same rows
                writer.write_table(table.slice(0, full).combine_chunks(), row_group_size=LIBRARY_ROW_GROUP)
                pending, rows = table.slice(full).to_batches(), rows - full
        if rows:
            writer.write_table(pa.Table.from_batches(pending, writer.schema).combine_chunks(),
                               row_group_size=LIBRARY_ROW_GROUP)


def _reserve(index, size: int) -> None:
    """Room for every vector before the first is added. faiss grows flat storage (flat, and HNSW's) as a
    std::vector does, by doubling and copying, which briefly holds the vectors two or three times over; a
    std::vector keeps its capacity when resized smaller, so growing it once and shrinking it back reserves."""
    import faiss

    flat = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    if isinstance(flat, faiss.IndexFlatCodes):
        flat.codes.resize(size * flat.code_size)
        flat.codes.resize(0)


def _sample(parquet: pq.ParquetFile, count: int, chunk_rows: int) -> np.ndarray:
    """``count`` vectors drawn evenly over the whole file (seeded, so a rebuild gives the same index)."""
    size = parquet.metadata.num_rows
    rows = np.sort(np.random.default_rng(0).choice(size, count, replace=False)) if count < size else \
        np.arange(size)
    sample, filled, start = None, 0, 0
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=["embedding"]):
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        if hi > lo:
            vectors = vectors_of(pa.chunked_array([batch.column(0).take(pa.array(rows[lo:hi] - start))]))
            if sample is None:
                sample = np.empty((count, vectors.shape[1]), dtype=np.float32)
            sample[filled:filled + len(vectors)] = vectors
            filled += len(vectors)
        start += batch.num_rows
    return sample


def load_index(source: str, stack: contextlib.ExitStack) -> LibraryIndex:
    import faiss

    name = display_name(source)
    path: Path = input_path(source, stack)
    try:
        with zipfile.ZipFile(path) as archive:
            provenance = json.loads(archive.read("provenance.json"))
            library = pq.read_table(BytesIO(archive.read("library.parquet")))
            # Read straight from the member into the index: bytes first, then an index, would hold it twice.
            with archive.open("vectors.faiss") as member:
                faiss_index = faiss.read_index(faiss.PyCallbackIOReader(member.read, 1 << 22))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, RuntimeError) as exc:
        raise InputError(f"{name}: not an llm4ms index file ({exc})",
                         hint="make one with 'llm4ms build-index'") from exc
    if provenance.get("format") != INDEX_FORMAT or provenance.get("format_version") != tables.FORMAT_VERSION:
        raise IncompatibleError(f"{name}: index format {provenance.get('format')} version "
                                f"{provenance.get('format_version')}; this llm4ms reads {INDEX_FORMAT} version "
                                f"{tables.FORMAT_VERSION}", hint="rebuild it with this llm4ms")
    return LibraryIndex(faiss_index, library, provenance, name)
