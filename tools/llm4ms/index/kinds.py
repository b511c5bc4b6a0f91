"""The index kinds of ``build-index``: which faiss index each one is, its parameters and their defaults, and
the search-time settings (efSearch, nprobe) that the index records and a search may override.

Every kind scores by inner product on the unit-length vectors of ``embed``, i.e. cosine. The defaults were
chosen on real MS/MS embeddings tiled to a million vectors (``python -m benchmarks scale``); why each one
is what it is stands beside it.
"""

import math
from dataclasses import dataclass

from ..errors import InputError

KINDS = ("flat", "hnsw", "ivf", "ivfpq")

# Measured on 1,000,000 vectors (2 cores; benchmarks/results/scale): HNSW with 32 links per node (64 on
# the bottom layer) reaches recall@10 0.998 at efSearch 64, 16 links only 0.992 at any efSearch, for the
# same speed at equal recall; the graph costs 0.27 kB per vector beside the 2.3 kB vector. efConstruction
# 80 (faiss's default is 40) builds the million in 200 s.
HNSW_M = 32
EF_CONSTRUCTION = 80
# efSearch 16: 17,800 queries/s at recall@10 0.98 on a million (64: 8,600/s at 0.998); at 100,000, 0.994.
# A search ranking compounds first asks for k × the library's spectra per compound (at most 4·k; search.py),
# and faiss never uses an efSearch below the depth asked.
EF_SEARCH = 16
# IVF: about 4·√N lists (coarse quantizer and list scans then cost about the same), at most N/39 so that
# k-means has the 39 points per centroid faiss asks for, at most 65,536.
NLIST_PER_SQRT = 4
NLIST_MAX = 65536
POINTS_PER_LIST = 39
# nprobe 16: recall@10 ≥ 0.99 from 10,000 to a million (8 drops to 0.97 at 100,000); lower it for speed.
NPROBE = 16
# k-means sees 40 sampled vectors per list (faiss asks for 39; 10,000 at least, for the PQ codebooks),
# drawn evenly over the file: its time grows with sample × lists, 160,000 × 4,000 at a million.
TRAIN_PER_LIST = 40
TRAIN_MIN = 10_000
# PQ: 64 one-byte codes per vector (576 dims → 9 per sub-vector): 26× less memory than the vectors (86 MB
# for a million, with ids and direct map), but scores too coarse to order close neighbours (recall@10 0.08
# against exact there).
PQ_M_MAX = 64
PQ_BITS = 8


@dataclass(frozen=True)
class IndexOptions:
    """What ``build-index`` was asked for; None means the default for this library."""

    kind: str = "flat"
    hnsw_m: int = HNSW_M
    ef_construction: int = EF_CONSTRUCTION
    ef_search: int = EF_SEARCH
    nlist: int | None = None
    nprobe: int = NPROBE
    pq_m: int | None = None
    pq_bits: int = PQ_BITS


def default_nlist(size: int) -> int:
    return max(1, min(round(NLIST_PER_SQRT * math.sqrt(size)), size // POINTS_PER_LIST, NLIST_MAX))


def default_pq_m(dim: int) -> int:
    """The largest divisor of ``dim`` up to 64: one byte per 9 dimensions for 576."""
    return max(m for m in range(1, min(dim, PQ_M_MAX) + 1) if dim % m == 0)


def train_size(record: dict) -> int:
    """Vectors sampled to train the coarse quantizer (and the PQ codebooks); 0 for kinds without training."""
    if record["kind"] not in ("ivf", "ivfpq"):
        return 0
    return min(record["size"], max(TRAIN_MIN, TRAIN_PER_LIST * record["nlist"]))


def index_record(options: IndexOptions, dim: int, size: int, name: str) -> dict:
    """The ``index`` record of the provenance: kind, metric, size, dim and every parameter of the kind, with
    defaults filled in for this library. Parameters that cannot work are refused before anything is built."""
    record = {"kind": options.kind, "metric": "inner_product", "size": size, "dim": dim}
    if options.kind == "hnsw":
        record.update(hnsw_m=options.hnsw_m, ef_construction=options.ef_construction, ef_search=options.ef_search)
    elif options.kind in ("ivf", "ivfpq"):
        nlist = options.nlist or default_nlist(size)
        if nlist > size:
            raise InputError(f"{name}: --nlist {nlist} is more lists than the {size} library spectra",
                             hint=f"use at most {size}, or leave --nlist out (default {default_nlist(size)})")
        record.update(nlist=nlist, nprobe=min(options.nprobe, nlist))
        if options.kind == "ivfpq":
            pq_m = options.pq_m or default_pq_m(dim)
            if dim % pq_m:
                divisors = ", ".join(str(m) for m in range(1, dim + 1) if dim % m == 0)
                raise InputError(f"{name}: --pq-m {pq_m} does not divide the embedding dimension {dim}",
                                 hint=f"choose one of {divisors}")
            record.update(pq_m=pq_m, pq_bits=options.pq_bits)
        record["train_size"] = train_size(record)
        if record["kind"] == "ivfpq" and record["train_size"] < 2 ** options.pq_bits:
            raise InputError(f"{name}: --pq-bits {options.pq_bits} trains {2 ** options.pq_bits} centroids per "
                             f"sub-vector, more than the {size} library spectra",
                             hint=f"use --pq-bits {max(1, int(math.log2(size)))} or less, or --kind flat")
    return record


def new_index(record: dict):
    """An empty (untrained) faiss index for the record."""
    import faiss

    dim, ip = record["dim"], faiss.METRIC_INNER_PRODUCT
    if record["kind"] == "flat":
        return faiss.IndexFlatIP(dim)
    if record["kind"] == "hnsw":
        index = faiss.IndexHNSWFlat(dim, record["hnsw_m"], ip)
        index.hnsw.efConstruction = record["ef_construction"]
        index.hnsw.efSearch = record["ef_search"]
        return index
    quantizer = faiss.IndexFlatIP(dim)
    if record["kind"] == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dim, record["nlist"], ip)
    else:
        index = faiss.IndexIVFPQ(quantizer, dim, record["nlist"], record["pq_m"], record["pq_bits"], ip)
    index.nprobe = record["nprobe"]
    # Window searches re-score their candidates from the stored codes by row (search.py); the direct map
    # (8 bytes per vector) finds a row's code without scanning the lists.
    index.set_direct_map_type(faiss.DirectMap.Array)
    return index


# build-index option ← the index kinds it applies to
BUILD_PARAMETERS = {"hnsw_m": ("hnsw",), "ef_construction": ("hnsw",), "ef_search": ("hnsw",),
                    "nlist": ("ivf", "ivfpq"), "nprobe": ("ivf", "ivfpq"), "pq_m": ("ivfpq",), "pq_bits": ("ivfpq",)}
# search-time parameter ← the index kinds it applies to
SEARCH_PARAMETERS = {name: BUILD_PARAMETERS[name] for name in ("ef_search", "nprobe")}


def search_parameters(record: dict | None, overrides: dict) -> tuple[dict, list[str]]:
    """The search-time parameters a search uses: the index's recorded ones, overridden where asked; and the
    overrides that do not apply to this kind of index (the caller warns about them)."""
    kind = (record or {}).get("kind", "flat")
    used = {name: record[name] for name, kinds in SEARCH_PARAMETERS.items() if kind in kinds}
    ignored = []
    for name, value in overrides.items():
        if value is None:
            continue
        if name in used:
            # faiss scans at most every list, as build-index records it: the hits say what was searched
            used[name] = min(value, record["nlist"]) if name == "nprobe" else value
        else:
            ignored.append(name)
    return used, ignored


def faiss_parameters(used: dict, k: int):
    """faiss SearchParameters carrying efSearch or nprobe for a search of the k best, or None for a flat
    index. efSearch is raised to k: faiss's HNSW returns fewer than k neighbours when efSearch < k."""
    import faiss

    if "ef_search" in used:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(used["ef_search"], k)
        return params
    if "nprobe" in used:
        params = faiss.SearchParametersIVF()
        params.nprobe = used["nprobe"]
        return params
    return None
