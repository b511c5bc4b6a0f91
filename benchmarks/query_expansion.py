"""Do query expansion or database-side augmentation help? The image-retrieval tricks that need no
training: alpha-QE (Radenović et al., TPAMI 2018) replaces a query vector by the normalised sum of itself
and its n best library vectors, each weighted by max(cos, 0)^alpha; DBA (Arandjelović and Zisserman, CVPR
2012) does the same to every library vector with its n nearest other library vectors, which needs the
library alone, so build-index could store it. Measured for QE, DBA and both (QE against the augmented
library), n in NEIGHBOURS and alpha in ALPHAS; the hybrid (search's default blend) for the best setting.

    python -m benchmarks.query_expansion QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01] [--out F.json]
    python -m benchmarks.query_expansion LIBRARY.emb.parquet [--held-out 1000] ...

With the library alone its held-out spectra are the queries (as ``benchmarks.fusion``), to choose a
setting without the query files; ``--setting`` measures the hybrid of the one chosen there on the dev
queries. Ranked and scored as in ``benchmarks.hubness``. QE's neighbours are the query's candidates:
inside the precursor window when one is given.
"""

import argparse

import numpy as np

from llm4ms.spectra.fields import inchikey_block

from .blend_scale import CONTROL, blend_ranks
from .fusion import read_tables, table_arguments
from .hubness import CHUNK, masked, scored, unit_vectors, window_mask
from .report import write_json
from .text_information import ranks

VARIANTS = ("qe", "dba", "both")
NEIGHBOURS = (1, 2, 5, 10)
ALPHAS = (0.0, 3.0)


def expanded(vectors: np.ndarray, scores: np.ndarray, pool: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Each row of ``vectors`` plus its ``n`` best rows of ``pool`` by ``scores`` (-inf: not a neighbour),
    weighted by max(score, 0)^alpha, normalised."""
    best = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    weights = np.take_along_axis(scores, best, 1)
    weights = np.where(np.isfinite(weights), np.maximum(weights, 0.0) ** alpha, 0.0)
    out = vectors + np.einsum("qn,qnd->qd", weights, pool[best])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def augmented_library(vectors: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """DBA: every library vector expanded with its n nearest other library vectors (any compound)."""
    out = np.empty_like(vectors)
    for start in range(0, len(vectors), CHUNK):
        block = vectors[start:start + CHUNK] @ vectors.T
        block[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        out[start:start + len(block)] = expanded(vectors[start:start + CHUNK], block, vectors, n, alpha)
    return out


def vectors_for(setting: tuple, q_vectors, l_vectors, allowed) -> tuple:
    """(query vectors, library vectors) of one (variant, n, alpha)."""
    variant, n, alpha = setting
    if variant in ("dba", "both"):
        l_vectors = augmented_library(l_vectors, n, alpha)
    if variant in ("qe", "both"):
        q_vectors = expanded(q_vectors, masked(q_vectors @ l_vectors.T, allowed), l_vectors, n, alpha)
    return q_vectors, l_vectors


def hybrid(q_vectors, l_vectors, queries, library, window: float | None) -> dict:
    """Query row → rank of its compound under search's default hybrid over these vectors."""
    return blend_ranks(q_vectors, l_vectors, queries, library, window, [CONTROL])[CONTROL]


def measure(queries, library, window: float | None, hybrid_setting: tuple | None) -> dict:
    """Every (variant, n, alpha)'s figures, and the hybrid of ``hybrid_setting`` (default: the best R@1 here)."""
    settings = [(v, n, a) for v in VARIANTS for n in NEIGHBOURS for a in ALPHAS]
    return settings_compared(queries, library, window, settings, vectors_for, name, hybrid_setting)


def settings_compared(queries, library, window: float | None, settings: list, transform, label,
                      hybrid_setting: tuple | None) -> dict:
    """Each setting's figures against the plain embedding, where ``transform(setting, q_vectors, l_vectors,
    allowed)`` gives its (query, library) vectors and ``label(setting)`` its name; and the hybrid of
    ``hybrid_setting`` (default: the best R@1 here) against the plain hybrid."""
    q_vectors, l_vectors = unit_vectors(queries), unit_vectors(library)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    allowed = window_mask(queries, library, window)
    plain = ranks(masked(q_vectors @ l_vectors.T, allowed), truth, library)
    result = {"plain": scored(plain, plain, "plain"), "settings": {}}
    for setting in settings:
        q, lib = transform(setting, q_vectors, l_vectors, allowed)
        result["settings"][label(setting)] = scored(ranks(masked(q @ lib.T, allowed), truth, library), plain, "plain")
    best = hybrid_setting or max(settings, key=lambda s: result["settings"][label(s)]["recall@1"])
    plain_hybrid = hybrid(q_vectors, l_vectors, queries, library, window)
    best_hybrid = hybrid(*transform(best, q_vectors, l_vectors, allowed), queries, library, window)
    result["best"] = label(best)
    result["hybrid"] = {"plain": scored(plain_hybrid, plain_hybrid, "plain"),
                        label(best): scored(best_hybrid, plain_hybrid, "plain")}
    return result


def name(setting: tuple) -> str:
    variant, n, alpha = setting
    return f"{variant} n {n} alpha {alpha:g}"


def parse_setting(text: str) -> tuple:
    variant, n, alpha = text.split(":")
    if variant not in VARIANTS:
        raise argparse.ArgumentTypeError(f"variant {variant!r}: one of {', '.join(VARIANTS)}")
    return variant, int(n), float(alpha)


def setting_argument(parser: argparse.ArgumentParser, parse, metavar: str) -> None:
    """--setting, read by ``parse``: the one whose hybrid ``settings_compared`` measures."""
    parser.add_argument("--setting", type=parse, metavar=metavar,
                        help="the setting whose hybrid is measured (default: the best R@1 here), e.g. one chosen on "
                             "the held-out spectra")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.query_expansion")
    table_arguments(parser)
    setting_argument(parser, parse_setting, "VARIANT:N:ALPHA")
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    write_json({"queries": source, "library": args.tables[-1], "window": args.window,
                **measure(queries, library, args.window, args.setting)}, args.out)


if __name__ == "__main__":
    main()
