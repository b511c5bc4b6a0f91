"""Hits + truth → per-query TSV, summary JSON and a Recall@k plot."""

import contextlib
import json

from .. import __version__, tables
from ..errors import InputError
from ..scoring import TanimotoCache, compound_ranks, inchikey_block, recall_at_k
from ..scoring.plot import plot_recall
from ..spectra.fields import compound_key
from ..streams import atomic_output, display_name, input_path

DEFAULT_KS = (1, 5, 10)


# what the recall needs; score, name and smiles fill the per-query top1 cells where a table has them
HITS_COLUMNS = ("query_id", "rank", "library_id", "inchikey")


def _check_columns(header, name: str, where: str) -> None:
    """A hits table without a column the recall needs would score as all misses (no rank) or fail on a key."""
    missing = [column for column in HITS_COLUMNS if column not in header]
    if missing:
        raise InputError(f"{name}: {where}not a hits table (no {', '.join(missing)} column)",
                         hint=f"score needs {', '.join(HITS_COLUMNS)}, as 'llm4ms search' writes them")


def read_hits(source: str, stack) -> tuple[list[dict], dict | None, object]:
    """Rows of a hits table (Parquet or llm4ms TSV), its provenance, and how it writes a query id (TSV:
    without tabs or line ends, tables.tsv_cell), for finding each query's truth."""
    name = display_name(source)
    path = input_path(source, stack)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        provenance = tables.read_provenance(path, name, (tables.HITS,))
        table = tables.read_table(path, name)
        _check_columns(table.column_names, name, "")
        return table.to_pylist(), provenance, str
    provenance = None
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            # "\n" only: splitlines() also breaks at U+2028, U+0085 or a form feed, which a name may hold
            lines = handle.read().split("\n")
            lines = lines[:-1] if lines and not lines[-1] else lines
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: not a hits table (binary content at byte {exc.start})") from exc
    if lines and lines[0].startswith(tables.TSV_PREFIX):
        try:
            provenance = json.loads(lines.pop(0)[len(tables.TSV_PREFIX):])
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: line 1: the provenance line is not JSON ({exc.msg} at column "
                             f"{exc.colno + len(tables.TSV_PREFIX)})",
                             hint="score reads the output of 'llm4ms search' as it wrote it") from exc
        tables.check_provenance(provenance, name, (tables.HITS,))
    first = 1 + (provenance is not None)
    header = lines[0].split("\t") if lines else []
    _check_columns(header, name, f"line {first}: ")
    rows = []
    for number, line in enumerate(lines[1:], start=first + 1):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise InputError(f"{name}: line {number}: {len(cells)} columns, header has {len(header)}")
        row = dict(zip(header, (c or None for c in cells)))
        try:
            row["rank"] = int(row["rank"]) if row["rank"] else None
            row["score"] = float(row["score"]) if row.get("score") else None
        except ValueError as exc:
            raise InputError(f"{name}: line {number}: rank {row['rank']!r} or score {row.get('score')!r} is not a "
                             "number") from exc
        rows.append(row)
    return rows, provenance, tables.tsv_cell


def read_truth(source: str, stack, skip_unannotated: bool = False) -> tuple[list[dict], list[dict]]:
    """The queries' rows, and those left out for having no valid InChIKey (an error unless
    ``skip_unannotated``)."""
    name = display_name(source)
    path = input_path(source, stack)
    tables.read_provenance(path, name, (tables.SPECTRA, tables.EMBEDDINGS))
    columns = ["id", "inchikey", "smiles", "name", "source_file", "source_index"]
    rows = tables.read_table(path, name, columns).to_pylist()
    annotated, left_out = [], []
    for row in rows:
        (left_out if inchikey_block(row["inchikey"]) is None else annotated).append(row)
    if left_out and not skip_unannotated:
        row = left_out[0]
        raise InputError(f"{name}: spectrum {row['id']} ({row['source_file']}, spectrum {row['source_index'] + 1}): "
                         f"no valid InChIKey ({row['inchikey']!r}); scoring needs the true compound of every query",
                         hint="--skip-unannotated scores the annotated queries alone")
    if rows and not annotated:
        raise InputError(f"{name}: no query has a valid InChIKey; there is nothing to score")
    return annotated, left_out


def _warn_of_partial_hits(mentioned: set, by_query: dict, truth, ks, provenance, name, warn) -> None:
    """Recall figures that look like results but are not: queries the hits never mention (search writes a row
    for every query, with or without hits, so the file was cut or made from other queries), cut-offs beyond
    the k the hits were searched with, and hits ranked by spectrum, whose k spectra can hold fewer than k
    compounds."""
    absent = len(set(truth) - mentioned)
    if absent:
        warn(f"warning: {absent} of the {len(truth)} queries have no row in {name}; they count as not found")
    parameters = ((provenance or {}).get("history") or [{}])[-1].get("parameters", {})
    searched = parameters.get("k")
    beyond = [k for k in ks if searched and k > searched]
    if beyond:
        warn(f"warning: {name} was searched with k {searched}; Recall@{', @'.join(map(str, beyond))} cannot "
             f"count a compound beyond rank {searched}")
    if parameters.get("group") == "spectrum":
        top = max([k for k in ks if not searched or k <= searched], default=None)
        # a query listing fewer spectra than that had no more candidates (a window): nothing is missed there
        short = top and sum(len(rows) >= top > len({compound_key(r["inchikey"], r["library_id"]) for r in rows})
                            for rows in by_query.values())
        if short:
            warn(f"warning: {name} ranks spectra (search --group spectrum): {short} queries list fewer than {top} "
                 f"compounds, so Recall@{top} cannot count a compound beyond them; search with --group compound "
                 "to score")


def score_files(hits_source: str, truth_source: str, ks=DEFAULT_KS, per_query: str | None = None,
                summary: str | None = None, plot: str | None = None, warn=None,
                skip_unannotated: bool = False) -> dict:
    with contextlib.ExitStack() as stack:
        hits, hits_provenance, written = read_hits(hits_source, stack)
        truth_rows, left_out = read_truth(truth_source, stack, skip_unannotated)
    queries = [written(row["id"]) for row in truth_rows]  # each truth row's id as the hits write it
    truth = {query: inchikey_block(row["inchikey"]) for query, row in zip(queries, truth_rows)}
    by_query: dict[str, list] = {}
    for row in sorted((r for r in hits if r["rank"] is not None), key=lambda r: (r["query_id"], r["rank"])):
        by_query.setdefault(row["query_id"], []).append(row)
    mentioned = {r["query_id"] for r in hits} - {written(row["id"]) for row in left_out}
    unknown = sorted(mentioned - set(truth))
    if unknown:
        raise InputError(f"{display_name(hits_source)}: query {unknown[0]} (and {len(unknown) - 1} more) is not in "
                         f"{display_name(truth_source)}", hint="pass the queries file that was searched as --truth")
    ranks = compound_ranks({q: [(r["library_id"], r["inchikey"]) for r in rs] for q, rs in by_query.items()}, truth)
    if warn and left_out:
        first = left_out[0]
        warn(f"warning: {len(left_out)} queries without a valid InChIKey left out of the recall (first: "
             f"{first['id']}, {first['source_file']}, spectrum {first['source_index'] + 1})")
    if warn:
        _warn_of_partial_hits(mentioned, by_query, truth, ks, hits_provenance, display_name(hits_source), warn)
    fingerprints = TanimotoCache()
    records = []
    for query, row in zip(queries, truth_rows):
        top = by_query.get(query, [None])[0]
        records.append({
            "query_id": row["id"], "name": row["name"], "inchikey": row["inchikey"],
            "rank": ranks[query],
            "top1_id": top and top["library_id"], "top1_name": top and top.get("name"),
            "top1_inchikey": top and top["inchikey"], "top1_score": top and top.get("score"),
            "top1_tanimoto": fingerprints.similarity(row["smiles"], top and top.get("smiles")),
        })
    similarities = [r["top1_tanimoto"] for r in records if r["top1_tanimoto"] is not None]
    result = {"llm4ms_version": __version__, "n_queries": len(records), **recall_at_k(ranks.values(), ks),
              "mean_top1_tanimoto": sum(similarities) / len(similarities) if similarities else None,
              "n_tanimoto": len(similarities),
              "n_without_hits": sum(1 for r in records if r["top1_id"] is None),
              "n_unannotated": len(left_out),
              "ks": list(ks), "hits": tables.file_label(hits_source), "truth": tables.file_label(truth_source),
              "search": hits_provenance and hits_provenance["history"][-1],
              "model": hits_provenance and hits_provenance.get("model"),
              "textualization": hits_provenance and hits_provenance.get("textualization")}
    step = tables.step_record("score", {"ks": list(ks), "skip_unannotated": skip_unannotated},
                              [hits_source, truth_source])

    def provenance_of(kind):
        history = (hits_provenance or {}).get("history", [])
        return tables.new_provenance(kind, step, result["textualization"], result["model"], history)

    if per_query:
        provenance = provenance_of(tables.PER_QUERY)
        with atomic_output(per_query, ".tsv") as tmp, open(tmp, "w", encoding="utf-8") as handle:
            columns = list(records[0]) if records else ["query_id"]
            handle.write(tables.provenance_line(provenance))
            handle.write("\t".join(columns) + "\n")
            for record in records:
                handle.write("\t".join(tables.tsv_cell(record[c]) for c in columns) + "\n")
    if summary:
        with atomic_output(summary, ".json") as tmp:
            tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    if plot:
        curve_ks = sorted(set(ks) | set(range(1, max(ks) + 1)))
        curve = recall_at_k(ranks.values(), curve_ks)
        with atomic_output(plot, ".png") as tmp:
            plot_recall({(result["model"] or {}).get("name", "llm4ms"): {k: curve[f"recall@{k}"] for k in curve_ks}},
                        tmp, provenance=provenance_of(tables.RECALL_PLOT))
    return result
