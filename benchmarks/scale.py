"""Library scale: each index kind on 10 k to 1 M library vectors: build time, index size, peak memory of the
build, queries/s and recall@10 against exact search, with the efSearch/nprobe trade-off.

The library vectors are real embeddings (an llm4ms embeddings table, --embeddings) tiled with seeded Gaussian
perturbations and re-normalised, so the neighbourhoods keep the real ones' shape: each copy lies as far
from its source as the median real nearest neighbour (--noise 1), i.e. copies of one spectrum and copies
of its real neighbours mix. They are written as an llm4ms embeddings table (the source's metadata tiled,
ids made unique; a copy after the first has no InChIKey, so it is a compound of its own, as in an
in-silico library of one predicted spectrum per structure), so `llm4ms build-index` runs in a subprocess
through its real streaming path, and its peak memory is its own. The queries are other perturbed copies
of real vectors; each is searched for its 10 best library spectra (--group spectrum) and, as `llm4ms
search` does by default, for its 10 best compounds, through `search_index`, the function `llm4ms search`
calls, with faiss on all cores; recall@10 is against the flat index's exact top 10 of the same grouping.
"""

import contextlib
import gc
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llm4ms import tables
from llm4ms.index import SearchSettings, load_index, search_index
from llm4ms.index.kinds import faiss_parameters
from llm4ms.index.search import used_search_parameters
from llm4ms.index.store import vectors_of

from .machine import machine, timed
from .report import write_text

RESULTS = Path(__file__).resolve().parent / "results" / "scale"
ROWS_PER_CHUNK = 16384
# search-time settings tried per kind: the trade-off curve (the build's own value is always among them)
SWEEP = {"hnsw": ("ef_search", [8, 12, 16, 24, 32, 64, 128]), "ivf": ("nprobe", [1, 2, 4, 8, 16, 32, 64]),
         "ivfpq": ("nprobe", [1, 2, 4, 8, 16, 32, 64])}


def real_vectors(path: Path) -> tuple[np.ndarray, float]:
    """The real vectors, and the median distance to their nearest other vector (the perturbation unit)."""
    import faiss

    vectors = vectors_of(pq.read_table(path, columns=["embedding"]).column("embedding"))
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    sample = vectors[np.random.default_rng(0).choice(len(vectors), min(len(vectors), 5000), replace=False)]
    scores, _ = flat.search(sample, 2)
    distances = np.sqrt(np.maximum(0, 2 - 2 * scores[:, 1]))  # unit vectors: |a − b|² = 2 − 2 a·b
    return vectors, float(np.median(distances[distances > 1e-6]))


def perturbed(vectors: np.ndarray, rows: np.ndarray, sigma: float, rng) -> np.ndarray:
    out = vectors[rows] + rng.normal(0, sigma, (len(rows), vectors.shape[1])).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def write_library(source: Path, vectors: np.ndarray, size: int, sigma: float, out: Path) -> None:
    """``size`` perturbed copies of the source rows, cycling through them, as an llm4ms embeddings table."""
    meta = pq.read_table(source).drop_columns(["embedding"])
    provenance = tables.read_provenance(source, str(source), (tables.EMBEDDINGS,))
    step = tables.step_record("benchmarks-scale", {"size": size, "sigma": sigma, "seed": size}, [str(source)])
    provenance = dict(provenance, history=provenance["history"] + [step])
    schema = tables.with_provenance(tables.embeddings_schema(vectors.shape[1]), provenance)
    rng = np.random.default_rng(size)
    with pq.ParquetWriter(out, schema) as writer:
        for start in range(0, size, ROWS_PER_CHUNK):
            rows = np.arange(start, min(size, start + ROWS_PER_CHUNK)) % len(vectors)
            chunk = meta.take(pa.array(rows))
            copy = np.arange(start, start + len(rows)) // len(vectors)
            copies = pa.array(copy.astype(str))
            chunk = chunk.set_column(chunk.schema.get_field_index("inchikey"), "inchikey",
                                     pc.if_else(pa.array(copy == 0), chunk.column("inchikey"),
                                                pa.nulls(len(rows), chunk.schema.field("inchikey").type)))
            chunk = chunk.set_column(chunk.schema.get_field_index("id"), "id",
                                     pc.binary_join_element_wise(chunk.column("id"), copies, "~"))
            flat = pa.array(perturbed(vectors, rows, sigma, rng).ravel(), pa.float32())
            chunk = chunk.append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
            writer.write_table(chunk.cast(schema), row_group_size=ROWS_PER_CHUNK)


# `llm4ms` that prints its peak resident memory (VmHWM) last on stderr. The child's own rusage will not do:
# Linux carries the parent's peak into a child's ru_maxrss across fork and exec, and this parent is large.
_LLM4MS_WITH_PEAK = ("import atexit, sys; from llm4ms.cli.main import main; atexit.register(lambda: print(next("
                     "line for line in open('/proc/self/status') if line.startswith('VmHWM:')), file=sys.stderr)); "
                     "main()")


def run_with_peak(args: list) -> dict:
    """`llm4ms ARGS` in a child process: its wall time and its own peak resident memory."""
    command = [sys.executable, "-c", _LLM4MS_WITH_PEAK, *map(str, args)]
    done, seconds = timed(subprocess.run, command, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks: llm4ms {' '.join(map(str, args))} failed: {done.stderr.strip()[-2000:]}")
    peak_kb = int(done.stderr.strip().splitlines()[-1].split()[1])
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024)}


def build(library: Path, out: Path, kind: str, options: list) -> dict:
    """`llm4ms build-index` in a child process: its wall time, its own peak memory, the index's size and record."""
    run = run_with_peak(["build-index", library, "-o", out, "--kind", kind, *options])
    import zipfile

    with zipfile.ZipFile(out) as archive:
        vectors_bytes = archive.getinfo("vectors.faiss").file_size
        record = json.loads(archive.read("provenance.json"))["index"]
    return {"build_s": run["seconds"], "build_peak_rss_mb": run["peak_rss_mb"],
            "file_mb": round(out.stat().st_size / 2**20, 1), "index_mb": round(vectors_bytes / 2**20, 1),
            "index": record}


def throughput(index, queries, settings, repeats):
    """queries/s (best of ``repeats`` after a warm-up) and the top-10 rows of every query."""
    search_index(index, queries[:200], [None] * 200, settings)
    best, hits = None, None
    for _ in range(repeats):
        hits, seconds = timed(search_index, index, queries, [None] * len(queries), settings)
        best = seconds if best is None else min(best, seconds)
    rows = [[row for row, _ in h] for h in hits]
    return round(len(queries) / best), rows


def faiss_throughput(index, queries, repeats):
    """queries/s of faiss alone, with the index's recorded parameters: what search_index adds is the rest."""
    used, _ = used_search_parameters(index, SearchSettings(10, "spectrum"))
    params = faiss_parameters(used, 10)
    search = (lambda: index.faiss_index.search(queries, 10)) if params is None else \
        (lambda: index.faiss_index.search(queries, 10, params=params))
    search()
    return round(len(queries) / min(timed(search)[1] for _ in range(repeats)))


def recall_at_10(found, exact) -> float:
    return round(float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)])), 4)


def scale(args, command: str):
    import faiss

    source = Path(args.embeddings)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    vectors, unit = real_vectors(source)
    sigma = args.noise * unit / np.sqrt(vectors.shape[1])  # E|noise| = noise × the median nearest-neighbour distance
    rng = np.random.default_rng(1)
    queries = perturbed(vectors, rng.integers(0, len(vectors), args.queries), sigma, rng)
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": command,
              "threads": faiss.omp_get_max_threads(), "source": source.name, "source_vectors": len(vectors),
              "dim": int(vectors.shape[1]), "median_nn_distance": round(unit, 5), "noise": args.noise,
              "sigma": sigma, "queries": args.queries, "k": 10, "sizes": {}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        library = work / f"library-{size}.emb.parquet"
        print(f"scale: {size} library vectors → {library}", file=sys.stderr)
        _, seconds = timed(write_library, source, vectors, size, sigma, library)
        rows = {"library_write_s": round(seconds, 1), "library_file_mb": round(library.stat().st_size / 2**20, 1),
                "kinds": {}}
        report["sizes"][str(size)] = rows
        exact = None
        for spec in ["flat"] + [k for k in args.kinds if k != "flat"]:
            kind, *options = shlex.split(spec)
            path = work / f"library-{size}.{len(rows['kinds'])}.index"
            result = build(library, path, kind, options)
            print(f"scale: {size} {spec}: built in {result['build_s']} s, peak {result['build_peak_rss_mb']} MB",
                  file=sys.stderr)
            with contextlib.ExitStack() as stack:
                index = load_index(str(path), stack)
            # flat is the ground truth; at a million its one pass already takes minutes
            repeats = 1 if kind == "flat" and size > 100_000 else 3
            qps, found = throughput(index, queries, SearchSettings(10, "spectrum"), repeats)
            compound_qps, compound_found = throughput(index, queries, SearchSettings(10, "compound"), repeats)
            if kind == "flat":
                exact, exact_compounds = found, compound_found
            result.update(queries_per_s=qps, recall_at_10=recall_at_10(found, exact),
                          compound_queries_per_s=compound_qps,
                          compound_recall_at_10=recall_at_10(compound_found, exact_compounds), repeats=repeats,
                          faiss_queries_per_s=faiss_throughput(index, queries if repeats > 1 else queries[:1000],
                                                               repeats))
            name, values = SWEEP.get(kind, (None, []))
            built = result["index"].get(name)
            for value in sorted(set(values) | ({built} if built else set())):
                settings = SearchSettings(10, "spectrum", **{name: value})
                point_qps, point_found = throughput(index, queries, settings, 3)
                result.setdefault("tradeoff", []).append({name: value, "queries_per_s": point_qps,
                                                          "recall_at_10": recall_at_10(point_found, exact)})
            rows["kinds"][spec] = result
            print(f"scale: {size} {spec}: {json.dumps({k: v for k, v in result.items() if k != 'index'})}",
                  file=sys.stderr)
            del index
            gc.collect()
            if not args.keep:
                path.unlink()
        if not args.keep:
            library.unlink()
        report["fastest_at_recall_0.95"] = fastest(report, 0.95)
        write_text(out / "results.json", json.dumps(report, indent=1) + "\n")  # after each size: partial runs
        write_text(out / "results.md", markdown(report))
    if not args.keep:
        with contextlib.suppress(OSError):
            work.rmdir()  # only if nothing else is in it
    print(markdown(report))


def fastest(report: dict, recall: float) -> dict:
    """Per library size, the most queries/s of any kind and search setting with at least ``recall``."""
    best = {}
    for size, rows in report["sizes"].items():
        for spec, r in rows["kinds"].items():
            points = [dict(p, kind=spec) for p in r.get("tradeoff", [])]
            points.append({"kind": spec, "queries_per_s": r["queries_per_s"], "recall_at_10": r["recall_at_10"]})
            for point in points:
                if point["recall_at_10"] >= recall and point["queries_per_s"] > best.get(size, {}).get(
                        "queries_per_s", 0):
                    best[size] = point
    return best


def markdown(report: dict) -> str:
    lines = [f"# Library scale ({report['date']})", "",
             f"Library: {report['source_vectors']:,} real embeddings ({report['source']}, {report['dim']} dims) tiled "
             f"with Gaussian perturbations (σ = {report['sigma']:.5f} per dimension: each copy "
             f"{report['noise']} × the median nearest-neighbour distance {report['median_nn_distance']} from its "
             f"source), re-normalised. Queries: {report['queries']:,} other perturbed copies of real vectors, top "
             f"{report['k']} spectra each, faiss on {report['threads']} threads; recall@10 against the flat index. "
             "Build: `llm4ms build-index --kind K` with the defaults, in its own process (peak RSS its own); index "
             "= the faiss part of the file (its size in memory); file = the whole index file. Compounds: the "
             "default search, the 10 best distinct compounds.", "",
             "| library | kind | parameters | build s | build peak RSS MB | index MB | file MB | queries/s "
             "| recall@10 | compounds: queries/s | recall@10 |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for size, rows in report["sizes"].items():
        for kind, r in rows["kinds"].items():
            params = ", ".join(f"{k} {v}" for k, v in r["index"].items() if k not in ("kind", "metric", "size", "dim"))
            lines.append(f"| {int(size):,} | {kind} | {params or '—'} | {r['build_s']} | {r['build_peak_rss_mb']:,} "
                         f"| {r['index_mb']:,} | {r['file_mb']:,} | {r['queries_per_s']:,} | {r['recall_at_10']} "
                         f"| {r.get('compound_queries_per_s', 0):,} | {r.get('compound_recall_at_10', '—')} |")
    lines += ["", "Trade-off (search-time parameter → queries/s, recall@10):", ""]
    for size, rows in report["sizes"].items():
        for kind, r in rows["kinds"].items():
            if r.get("tradeoff"):
                points = "; ".join(f"{next(iter(p))} {next(iter(p.values()))}: {p['queries_per_s']:,}/s, "
                                   f"{p['recall_at_10']}" for p in r["tradeoff"])
                lines.append(f"- {int(size):,} {kind}: {points}")
    lines += ["", "Fastest with recall@10 ≥ 0.95:", ""]
    for size, point in report.get("fastest_at_recall_0.95", {}).items():
        setting = ", ".join(f"{k} {v}" for k, v in point.items() if k not in ("kind", "queries_per_s", "recall_at_10"))
        lines.append(f"- {int(size):,}: {point['kind']}{' (' + setting + ')' if setting else ''}: "
                     f"{point['queries_per_s']:,} queries/s at recall@10 {point['recall_at_10']}")
    lines += ["", f"Command: `{report['command']}`; machine: {report['machine']}.", ""]
    return "\n".join(lines)
