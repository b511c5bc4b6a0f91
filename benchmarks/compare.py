"""Run several search methods on the same query and library spectra and score them alike."""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from llm4ms import tables
from llm4ms.index.search import collapse_hits, compound_keys
from llm4ms.steps.score import score_files
from llm4ms.steps.search import HITS_SCHEMA, hits_table

from .data import load_spectra, seeded_subset, spectra_table
from .methods import Ranking
from .methods.cosine import cosine
from .methods.entropy import entropy
from .methods.llm4ms import Embeddings, llm4ms
from .methods.spec2vec import spec2vec
from .report import per_query_lines, write_text

KS = tuple(range(1, 11))


@dataclass(frozen=True)
class Method:
    label: str  # {weighting} is filled in per task
    run: Callable  # (context, queries, library) → Ranking
    slow: bool = False  # runs on the seeded query subset of the task
    needs_precursor: bool = False
    needs_unit_mass: bool = False  # a variant only meaningful for nominal-mass (EI) tasks
    embeds: bool = False  # llm4ms: reads its own files, not the harness's spectra


def _powers(task) -> tuple:
    return task.mz_power, task.intensity_power


def _model_label(options) -> str:
    adapter = {"none": "no adapter", "auto": "shipped adapter"}.get(options.adapter, f"adapter {options.adapter}")
    return f"{options.model}, {adapter}"


def _blend(weight: float) -> str:
    if weight == 1:
        return "weighted cosine"
    return f"{weight:g} × weighted cosine + {1 - weight:g} × embedding cosine"


def _weighting(task) -> str:
    return f"m/z^{task.mz_power:g}·I^{task.intensity_power:g}" if task.mz_power else f"I^{task.intensity_power:g}"


METHODS = {
    "cosine": Method("cosine (matchms CosineGreedy)", lambda c, q, lib: cosine(q, lib, c.task), slow=True),
    # The data README's EI "cosine" weights peaks by m/z (m/z^1·I^1); kept to reproduce its figures.
    "mz-cosine": Method("cosine m/z^1·I^1", lambda c, q, lib: cosine(q, lib, c.task, (1.0, 1.0)), slow=True,
                        needs_unit_mass=True),
    "weighted-cosine": Method("weighted cosine {weighting}",
                              lambda c, q, lib: cosine(q, lib, c.task, _powers(c.task)), slow=True),
    "cosine-window": Method("cosine, precursor window", lambda c, q, lib: cosine(q, lib, c.task, window=True),
                            needs_precursor=True),
    "weighted-cosine-window": Method("weighted cosine {weighting}, precursor window",
                                     lambda c, q, lib: cosine(q, lib, c.task, _powers(c.task), window=True),
                                     needs_precursor=True),
    "entropy": Method("flash entropy, open search (ms_entropy)", lambda c, q, lib: entropy(q, lib, c.task)),
    "entropy-identity": Method("flash entropy, identity search (ms_entropy)",
                               lambda c, q, lib: entropy(q, lib, c.task, identity=True), needs_precursor=True),
    "spec2vec": Method("Spec2Vec (re-stated on gensim)", lambda c, q, lib: spec2vec(q, lib, c.task)),
    "spec2vec-nominal": Method("Spec2Vec at nominal mass (re-stated on gensim)",
                               lambda c, q, lib: spec2vec(q, lib, c.task, nominal=True), needs_unit_mass=True),
    "llm4ms": Method("llm4ms {model}", lambda c, q, lib: llm4ms(c.task, c.embeddings, c.hits("llm4ms")), embeds=True),
    "llm4ms-window": Method("llm4ms {model}, precursor window",
                            lambda c, q, lib: llm4ms(c.task, c.embeddings, c.hits("llm4ms-window"), window=True),
                            needs_precursor=True, embeds=True),
    "hybrid": Method("hybrid: llm4ms {model} top {depth}, re-ranked by {blend}",
                     lambda c, q, lib: llm4ms(c.task, c.embeddings, c.hits("hybrid"), rerank="weighted-cosine"),
                     embeds=True),
    "hybrid-window": Method("hybrid, precursor window",
                            lambda c, q, lib: llm4ms(c.task, c.embeddings, c.hits("hybrid-window"), window=True,
                                                   rerank="weighted-cosine"),
                            needs_precursor=True, embeds=True),
}


class Context:
    def __init__(self, task, work: Path, scratch: Path, llm4ms_options):
        self.task, self.scratch = task, scratch
        self.embeddings = Embeddings(task, llm4ms_options, work)

    def hits(self, method: str) -> Path:
        path = self.scratch / "hits" / f"{method}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def write_ranking(ranking: Ranking, queries, library, path: Path, truth_provenance: dict, method: str) -> None:
    """Top 10 distinct compounds per query as an llm4ms hits table, so `score` reads it like search output."""
    keys = compound_keys(pa.table({"id": library.ids, "inchikey": library.inchikeys}))
    hits = [collapse_hits(rows, scores, keys, 10) for rows, scores in zip(ranking.rows, ranking.scores)]
    columns = {"id": library.ids, "name": library.names, "inchikey": library.inchikeys, "smiles": library.smiles,
               "adduct": [None] * len(library), "precursor_mz": [None if p != p else float(p)
                                                                 for p in library.precursors]}
    precursors = [None if p != p else float(p) for p in queries.precursors]
    # a classical search scores the whole library, so only a precursor window leaves a query without hits
    table = hits_table(queries.ids, precursors, hits, columns, {"without_hits": 0}, window=True)
    step = tables.step_record("benchmark", {"method": method}, [])
    provenance = tables.new_provenance(tables.HITS, step, truth_provenance["textualization"], None,
                                       truth_provenance["history"])
    tables.write_table(path, table.cast(HITS_SCHEMA), provenance)


def _subset_truth(truth: Path, rows: list, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(truth)
    pq.write_table(table.take(rows), out)
    return out


def run(task, methods: list, work: Path, out: Path, llm4ms_options, seed: int = 0, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    truth, rejected_queries = spectra_table(task.queries, work)
    library_table, rejected_library = spectra_table(task.library, work)
    truth_provenance = tables.read_provenance(truth, truth.name, (tables.SPECTRA,))
    scratch = work / "runs" / out.name  # hits and per-query ranks: kept for inspection, not committed
    context = Context(task, work, scratch, llm4ms_options)
    queries = library = None
    if any(not METHODS[m].embeds for m in methods):
        queries, library = load_spectra(truth), load_spectra(library_table)
    n_queries = pq.ParquetFile(truth).metadata.num_rows
    subset = seeded_subset(n_queries, task.slow_queries, seed)
    subset_truth = (truth if len(subset) == n_queries
                    else _subset_truth(truth, subset, scratch / f"subset_{len(subset)}_{seed}.parquet"))
    results = {}
    for name in methods:
        method = METHODS[name]
        if method.needs_precursor and task.window is None:
            log(f"{name}: skipped, the {task.name} spectra have no precursor m/z")
            continue
        if method.needs_unit_mass and not task.unit_mass:
            log(f"{name}: skipped, the {task.name} task is not matched at nominal mass")
            continue
        slow = method.slow and len(subset) < n_queries
        method_queries = queries.take(subset) if slow and queries is not None else queries
        log(f"{name}: {len(subset) if slow else n_queries} queries")
        started = time.perf_counter()
        ranking = method.run(context, method_queries, library)
        hits = ranking.hits or context.hits(name)
        if ranking.hits is None:
            write_ranking(ranking, method_queries, library, hits, truth_provenance, name)
        per_query = scratch / "per_query" / f"{name}.tsv"
        per_query.parent.mkdir(parents=True, exist_ok=True)
        score = score_files(str(hits), str(subset_truth if slow else truth), KS, per_query=str(per_query))
        n = score["n_queries"]
        results[name] = {
            "method": name, "label": method.label.format(weighting=_weighting(task), model=_model_label(llm4ms_options),
                                                         depth=llm4ms_options.rerank_depth,
                                                         blend=_blend(llm4ms_options.rerank_weight)),
            "n_queries": n, "subset": slow, **{f"recall@{k}": score[f"recall@{k}"] for k in KS},
            "mean_top1_tanimoto": score["mean_top1_tanimoto"], "n_without_hits": score["n_without_hits"],
            "library_prep_s": ranking.library_prep_s, "query_prep_s": ranking.query_prep_s,
            "search_s": ranking.search_s, "search_queries_per_s": n / ranking.search_s if ranking.search_s else None,
            "end_to_end_queries_per_s": n / (ranking.query_prep_s + ranking.search_s),
            "wall_s": time.perf_counter() - started, "settings": ranking.extra,
            "hits": str(hits), "ranks": _ranks(per_query),
        }
        log(f"{name}: Recall@1 {score['recall@1']:.3f}, @5 {score['recall@5']:.3f}, @10 {score['recall@10']:.3f}")
    subset_ids = set(pq.read_table(subset_truth, columns=["id"]).column("id").to_pylist())
    for result in results.values():
        ranks = [r for q, r in result.pop("ranks").items() if q in subset_ids]
        result["subset_recall@1"] = sum(r == 1 for r in ranks) / len(ranks)
    return {"task": task.name, "queries": task.queries, "library": task.library, "n_queries": n_queries,
            "n_library": pq.ParquetFile(library_table).metadata.num_rows,
            "rejected": {"queries": rejected_queries, "library": rejected_library},
            "subset": {"n": len(subset), "seed": seed}, "methods": results}


def _ranks(per_query: Path) -> dict:
    lines = per_query_lines(per_query)
    header = lines[0].split("\t")
    at_query, at_rank = header.index("query_id"), header.index("rank")
    ranks = {}
    for line in lines[1:]:
        cells = line.split("\t")
        ranks[cells[at_query]] = int(cells[at_rank]) if cells[at_rank] else None
    return ranks


def save_json(report: dict, path: Path) -> None:
    write_text(path, json.dumps(report, indent=1) + "\n")
