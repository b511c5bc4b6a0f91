"""The index file: a zip (stored, fixed timestamps, so identical inputs give identical bytes) holding

- ``provenance.json``: the embeddings' provenance plus the build-index step and the index kind;
- ``library.parquet``: every library column except the vectors, in index row order;
- ``vectors.faiss``: the faiss index (``faiss.serialize_index``).

One file keeps Galaxy datasets and pipeline channels simple; a zip keeps it inspectable (``unzip -l``).
"""

import contextlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..errors import IncompatibleError, InputError
from ..streams import atomic_output, display_name, input_path

INDEX_FORMAT = "llm4ms.index"
INDEX_KINDS = ("flat",)
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class LibraryIndex:
    faiss_index: object
    library: pa.Table
    provenance: dict
    name: str


def vectors_of(column: pa.ChunkedArray) -> np.ndarray:
    flat = column.combine_chunks()
    return np.asarray(flat.values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(flat), -1)


def build_index(source: str, output: str, kind: str = "flat") -> int:
    import faiss

    name = display_name(source)
    with contextlib.ExitStack() as stack:
        path = input_path(source, stack)
        provenance = tables.read_provenance(path, name, (tables.EMBEDDINGS,))
        table = pq.read_table(path)
        vectors = vectors_of(table.column("embedding"))
        if len(vectors) == 0:
            raise InputError(f"{name}: no embeddings to index")
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        step = tables.step_record("build-index", {"kind": kind}, [source])
        out = dict(provenance, format=INDEX_FORMAT, history=provenance["history"] + [step],
                   index={"kind": kind, "metric": "inner_product", "size": int(index.ntotal),
                          "dim": int(vectors.shape[1])})
        library = table.drop_columns(["embedding"]).replace_schema_metadata(None)
        buffer = io.BytesIO()
        pq.write_table(library, buffer)
        with atomic_output(output, ".index") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for member, data in (("provenance.json", json.dumps(out, indent=1, sort_keys=True).encode()),
                                 ("library.parquet", buffer.getvalue()),
                                 ("vectors.faiss", faiss.serialize_index(index).tobytes())):
                archive.writestr(zipfile.ZipInfo(member, _EPOCH), data)
    return int(index.ntotal)


def load_index(source: str, stack: contextlib.ExitStack) -> LibraryIndex:
    import faiss

    name = display_name(source)
    path: Path = input_path(source, stack)
    try:
        with zipfile.ZipFile(path) as archive:
            provenance = json.loads(archive.read("provenance.json"))
            library = pq.read_table(io.BytesIO(archive.read("library.parquet")))
            raw = np.frombuffer(archive.read("vectors.faiss"), dtype=np.uint8)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"{name}: not an llm4ms index file ({exc})",
                         hint="make one with 'llm4ms build-index'") from exc
    if provenance.get("format") != INDEX_FORMAT or provenance.get("format_version") != tables.FORMAT_VERSION:
        raise IncompatibleError(f"{name}: index format {provenance.get('format')} version "
                                f"{provenance.get('format_version')}; this llm4ms reads {INDEX_FORMAT} version "
                                f"{tables.FORMAT_VERSION}", hint="rebuild it with this llm4ms")
    return LibraryIndex(faiss.deserialize_index(raw), library, provenance, name)
