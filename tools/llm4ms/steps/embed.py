"""Spectra table → embeddings table, chunk by chunk, so a large library never sits in memory at once."""

import contextlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..backbone import choose_adapter, resolve_adapter, resolve_model
from ..backbone.adapters import adapter_layers, check_adapter_base, check_adapter_texts, read_metadata
from ..backbone.encoder import SpectrumEncoder
from ..backbone.cache import file_digest
from ..errors import InputError, Llm4msError
from ..resume import ChunkStore, resume_folder
from ..streams import atomic_output, display_name, input_path, output_folder
from ..textualize import second_view_texts
from ..textualize.settings import EI_TEMPLATES, second_view

CHUNK_ROWS = 1024  # spectra per resume chunk (embed's --chunk-rows default)


def load_encoder(model: str, adapter: str | None, device: str, dtype: str, layers: int | None,
                 max_length: int, textualization: dict | None = None, templates: set[str] | None = None,
                 also_peak_choice: str | None = None, warn=None) -> SpectrumEncoder:
    """``adapter``: a folder, ``auto`` (the shipped adapter for the table's template) or ``none``/None.
    With ``textualization`` and ``templates`` (those of the table to embed) the adapter's training texts
    are checked against them. ``warn`` hears of a second text view the adapter was trained on but not
    asked for: one view is valid, so it is only a note."""
    resolved = resolve_model(model)
    folder = choose_adapter(adapter or "none", model, templates or set())
    metadata = read_metadata(folder) if folder else None
    if metadata is not None:
        check_adapter_base(metadata, resolved, folder)
        if textualization is not None:
            check_adapter_texts(metadata, textualization, templates or set(), folder)
        trained_second = metadata["stages"][-1]["settings"].get("also_peak_choice")
        if trained_second and also_peak_choice is None and warn is not None:
            warn(f"note: adapter {folder} was also trained on {trained_second} texts; --also-peak-choice "
                 f"{trained_second} embeds both views (twice the time; queries and library alike)")
    return SpectrumEncoder(resolved, adapter_path=folder, adapter=resolve_adapter(folder), device=device,
                           dtype=dtype, layers=adapter_layers(metadata, layers, folder), max_length=max_length)


def embed_table(source: str, output: str, encoder, batch_size: int = 16, chunk_rows: int = CHUNK_ROWS,
                progress_factory=None, warn=None, also_peak_choice: str | None = None) -> tuple[int, SpectrumEncoder]:
    """``encoder`` is a SpectrumEncoder, or a callable making one from the table's textualization and
    templates: it is called only once the input has been checked, so a wrong file fails in a second, not
    after loading a model.

    With ``also_peak_choice`` each spectrum is embedded a second time from the text that peak choice
    writes (EI templates; other rows repeat their text), and the two unit vectors are stored side by side,
    scaled by 1/√2: still a unit vector, whose inner product with another such is the mean of the two
    texts' cosines. The model record says so (``also_peak_choice``, twice the ``dim``), so search refuses
    to mix such vectors with single ones.

    Every ``chunk_rows`` spectra are kept in a resume folder beside ``output`` (not for stdout) as they are
    done, and the output is assembled from them at the end: the same command after a kill carries on from
    the last finished chunk and writes the same bytes as an uninterrupted run.
    """
    name = display_name(source)
    with contextlib.ExitStack() as stack:
        path = input_path(source, stack)
        provenance = tables.read_provenance(path, name, (tables.SPECTRA, tables.EMBEDDINGS))
        second = None if also_peak_choice is None else \
            second_view(provenance["textualization"], also_peak_choice, name)["templates"]
        output_folder(output)  # before the model loads
        folder = resume_folder(output)
        parquet = tables.open_parquet(path, name)
        total = parquet.metadata.num_rows
        if not total:  # nothing to choose the adapter by, and textualize never writes such a table
            raise InputError(f"{name}: no spectra to embed", hint="textualize spectra files into the table")
        templates = tables.table_templates(path, name)
        if second is not None and not templates & set(EI_TEMPLATES) and warn is not None:
            warn(f"note: {name} has no EI spectra, so --also-peak-choice embeds each text twice as it is (twice "
                 "the time): only for a search against a library embedded with it")
        if not isinstance(encoder, SpectrumEncoder):
            encoder = encoder(provenance["textualization"], templates)
        record = encoder.record
        if second is not None:
            record = {**record, "dim": 2 * record["dim"], "also_peak_choice": also_peak_choice}
        step = tables.step_record("embed", {"model": record["name"], "adapter": (record["adapter"] or {}).get("name"),
                                            "layers": record["layers"], "max_length": record["max_length"],
                                            "device": encoder.device, "batch_size": batch_size,
                                            "dtype": encoder.dtype, "also_peak_choice": also_peak_choice}, [source])
        out_provenance = tables.new_provenance(tables.EMBEDDINGS, step, provenance["textualization"],
                                               record, provenance["history"])
        schema = tables.with_provenance(tables.embeddings_schema(record["dim"]), out_provenance)
        progress = progress_factory(total * (2 if second else 1)) if progress_factory else None

        def embedded(batch, offset):
            return _embed_chunk(batch, offset, name, encoder, schema, batch_size, progress, second)

        if folder is None:
            done = _write(output, schema, (embedded(batch, offset) for _, offset, batch in
                                           _chunks(parquet, chunk_rows)))
        else:
            state = {"input": file_digest([path]), "output_schema": schema.metadata[b"llm4ms"].decode(),
                     "chunk_rows": chunk_rows}
            store = ChunkStore(folder, state, warn)
            try:
                if store.resumed and warn is not None:
                    warn(f"resuming: {store.resumed} chunks of {chunk_rows} spectra already embedded in {folder}")
                count = 0
                for index, offset, batch in _chunks(parquet, chunk_rows):
                    if not store.has(index):
                        store.put(index, embedded(batch, offset))
                    elif progress is not None:
                        progress.update(batch.num_rows)
                    count = index + 1
                done = _write(output, schema, (store.get(i) for i in range(count)))
            except Llm4msError:
                store.close(remove=True)  # the input or a setting must change: these chunks are no use
                raise
            except BaseException:
                store.close(remove=False)  # interrupted: the same command carries on from here
                if progress is not None:
                    progress.close()
                if warn is not None:
                    warn(f"{store.count()} chunks of {chunk_rows} spectra are kept in {folder}; the same command "
                         "carries on from there")
                raise
            store.close(remove=True)
        if progress is not None:
            progress.close()
    return done, encoder


def _chunks(parquet, chunk_rows):
    """(chunk number, its first row, record batch) over the spectra table."""
    offset = 0
    columns = [f.name for f in tables.SPECTRA_FIELDS]
    for index, batch in enumerate(parquet.iter_batches(batch_size=chunk_rows, columns=columns)):
        yield index, offset, batch
        offset += batch.num_rows


def _embed_chunk(batch, offset, name, encoder, schema, batch_size, progress, second=None) -> pa.Table:
    texts = batch.column("text").to_pylist()
    missing = [i for i, t in enumerate(texts) if not t]
    if missing:
        ident = batch.column("id")[missing[0]].as_py()
        raise InputError(f"{name}: spectrum {offset + missing[0] + 1} ({ident}): empty text",
                         hint="re-run llm4ms textualize")
    vectors = encoder.encode(texts, batch_size, progress)
    if second is not None:
        vectors = side_by_side(vectors, encoder.encode(second_view_texts(batch, texts, second), batch_size, progress))
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    return pa.Table.from_batches([batch]).append_column(schema.field("embedding"), embedding).cast(schema)


def side_by_side(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two views' unit vectors as one, each times 1/√2: still of unit length, and its inner product with
    another such vector is the mean of the two views' cosines."""
    return np.hstack([first, second]) * np.float32(np.sqrt(0.5))


def _write(output: str, schema, tables_in_order) -> int:
    done = 0
    with atomic_output(output, ".parquet") as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for table in tables_in_order:
            writer.write_table(table.cast(schema))
            done += table.num_rows
    return done
