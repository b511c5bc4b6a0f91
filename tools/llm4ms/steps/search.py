"""Query embeddings + library index → hits table (Parquet or TSV), streamed chunk by chunk."""

import contextlib

import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..index import SearchSettings, load_index, search_index
from ..index.search import reranker_for, used_search_parameters
from ..index.store import vectors_of
from ..streams import atomic_output, display_name, input_path

HITS_SCHEMA = pa.schema([
    pa.field("query_id", pa.string(), nullable=False),
    pa.field("rank", pa.int32()),
    pa.field("score", pa.float64()),
    pa.field("library_id", pa.string()),
    pa.field("name", pa.string()),
    pa.field("inchikey", pa.string()),
    pa.field("smiles", pa.string()),
    pa.field("adduct", pa.string()),
    pa.field("library_precursor_mz", pa.float64()),
    pa.field("query_precursor_mz", pa.float64()),
    pa.field("note", pa.string()),
])


def output_format(path: str, requested: str | None) -> str:
    if requested:
        return requested
    return "parquet" if path.lower().endswith(".parquet") else "tsv"


def search_files(queries: str, index_path: str, output: str, settings: SearchSettings, fmt: str | None = None,
                 chunk_rows: int = 4096, progress_factory=None, warn=print) -> dict:
    fmt = output_format(output, fmt)
    name = display_name(queries)
    with contextlib.ExitStack() as stack:
        index = load_index(index_path, stack)
        path = input_path(queries, stack)
        provenance = tables.read_provenance(path, name, (tables.EMBEDDINGS,))
        library_templates = set(index.library.column("template").to_pylist())
        tables.require_same_space(provenance, name, index.provenance, index.name,
                                  tables.table_templates(path, name) | library_templates)
        library = {c: index.library.column(c).to_pylist() for c in _LIBRARY_COLUMNS.values()}
        # The library's own lineage (its spectra files, embedding, index build): the index file may reach here
        # under any name (Galaxy's dataset_12.dat), and the hits must still say what was searched.
        parameters = {"k": settings.k, "group": settings.group, "window": settings.window,
                      "window_unit": settings.window_unit, "index": index.provenance.get("index"),
                      "library_history": index.provenance["history"]}
        used, ignored = used_search_parameters(index, settings)
        for option in ignored:
            warn(f"warning: --{option.replace('_', '-')} does not apply to {index.name}, a "
                 f"{(index.provenance.get('index') or {}).get('kind', 'flat')} index; ignored")
        if used:  # the efSearch or nprobe this search ran with, which may differ from what the index records
            parameters["search_parameters"] = used
        if settings.rerank:
            parameters.update(rerank=settings.rerank, rerank_depth=settings.rerank_depth,
                              rerank_tolerance=settings.rerank_tolerance, rerank_weight=settings.rerank_weight)
        step = tables.step_record("search", parameters, [queries, index_path])
        out_provenance = tables.new_provenance(tables.HITS, step, provenance["textualization"],
                                               provenance["model"], provenance["history"])
        parquet = tables.open_parquet(path, name)
        progress = progress_factory(parquet.metadata.num_rows) if progress_factory else None
        stats = {"queries": 0, "without_hits": 0, "template_mismatch": 0}
        columns = ["id", "template", "precursor_mz", "embedding"] + (["mz", "intensities"] if settings.rerank else [])
        reranker = reranker_for(index, settings) if settings.rerank else None
        with atomic_output(output, "." + fmt) as tmp:
            writer = _HitsWriter(tmp, fmt, out_provenance)
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                ids = batch.column("id").to_pylist()
                precursors = batch.column("precursor_mz").to_pylist()
                stats["template_mismatch"] += sum(t not in library_templates
                                                  for t in batch.column("template").to_pylist())
                peaks = (list(zip(batch.column("mz").to_pylist(), batch.column("intensities").to_pylist(),
                                  batch.column("template").to_pylist())) if settings.rerank else None)
                hits = search_index(index, vectors_of(pa.chunked_array([batch.column("embedding")])), precursors,
                                    settings, progress, query_peaks=peaks, reranker=reranker)
                writer.write(hits_table(ids, precursors, hits, library, stats, settings.window is not None))
                stats["queries"] += len(ids)
            writer.close()
        if progress is not None:
            progress.close()
    if stats["template_mismatch"]:
        warn(f"warning: {stats['template_mismatch']} queries use a template that no library spectrum uses "
             f"(library: {', '.join(sorted(library_templates))}); their scores are not comparable")
    return stats


# An open search finds no neighbour only where an IVF index's probed lists are all empty (a library of many
# identical spectra leaves lists empty); build-index refuses an empty library.
OPEN_NO_HITS = "the index gave no neighbour (ivf: the lists probed are empty; raise --nprobe)"

# hits column ← library column
_LIBRARY_COLUMNS = {"library_id": "id", "name": "name", "inchikey": "inchikey", "smiles": "smiles",
                    "adduct": "adduct", "library_precursor_mz": "precursor_mz"}


def hits_table(ids, precursors, hits, library, stats, window: bool = False):
    rows = {f.name: [] for f in HITS_SCHEMA}
    for query_id, precursor, query_hits in zip(ids, precursors, hits):
        if not query_hits:
            stats["without_hits"] += 1
            note = (OPEN_NO_HITS if not window else "no library spectrum within the precursor window"
                    if precursor is not None else "query has no precursor m/z for the window search")
            query_hits = [(None, None)]
        else:
            note = None
        for rank, (row, score) in enumerate(query_hits, start=1):
            rows["query_id"].append(query_id)
            rows["rank"].append(rank if row is not None else None)
            rows["score"].append(score)
            for out, src in _LIBRARY_COLUMNS.items():
                rows[out].append(library[src][row] if row is not None else None)
            rows["query_precursor_mz"].append(precursor)
            rows["note"].append(note)
    return pa.table(rows, schema=HITS_SCHEMA)


class _HitsWriter:
    """Parquet with provenance in its metadata, or TSV with provenance on a leading '#' line."""

    def __init__(self, path, fmt, provenance):
        self.fmt = fmt
        if fmt == "parquet":
            self.writer = pq.ParquetWriter(path, tables.with_provenance(HITS_SCHEMA, provenance))
        else:
            self.handle = open(path, "w", encoding="utf-8", newline="\n")
            self.handle.write(tables.provenance_line(provenance))
            self.handle.write("\t".join(HITS_SCHEMA.names) + "\n")

    def write(self, table: pa.Table):
        if self.fmt == "parquet":
            self.writer.write_table(table)
            return
        for row in zip(*(table.column(n).to_pylist() for n in HITS_SCHEMA.names)):
            self.handle.write("\t".join(tables.tsv_cell(v) for v in row) + "\n")

    def close(self):
        (self.writer if self.fmt == "parquet" else self.handle).close()
