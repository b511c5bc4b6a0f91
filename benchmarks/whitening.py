"""Do centring and whitening help? Embeddings of decoder LLMs are often anisotropic, and an unsupervised
linear map fitted on the corpus alone (Su et al., "Whitening sentence representations for better semantics
and faster retrieval", 2021) often raises cosine retrieval. Here the library's unit vectors give the mean
mu and the covariance's eigenvectors U and eigenvalues lambda, and every vector becomes
(x − mu) U_k diag(lambda_k^−p), normalised: p 0 is a rotation (with k 576 plain centring), p 0.5 full
whitening, k < 576 fewer dimensions (a k above the embedding's width keeps all of them). The map needs the
library alone, so build-index could store it.

    python -m benchmarks.whitening QUERIES.emb.parquet LIBRARY.emb.parquet [--window 0.01] [--out F.json]
    python -m benchmarks.whitening LIBRARY.emb.parquet [--held-out 1000] ...

With the library alone its held-out spectra are the queries (as ``benchmarks.fusion``) and the map is
fitted on the rest, to choose a setting without the query files; ``--setting`` measures the hybrid of the
one chosen there. Ranked and scored as in ``benchmarks.query_expansion``.
"""

import argparse

import numpy as np

from .fusion import read_tables, table_arguments
from .hubness import unit_vectors
from .query_expansion import setting_argument, settings_compared
from .report import write_json

POWERS = (0.0, 0.25, 0.5)
DIMENSIONS = (64, 128, 256, 576)


def fitted(library: np.ndarray) -> tuple:
    """(mu, eigenvectors, eigenvalues) of the library's vectors, the largest eigenvalue first."""
    mu = library.mean(axis=0, dtype=np.float64)
    values, vectors = np.linalg.eigh(np.cov(library - mu, rowvar=False))
    order = np.argsort(values)[::-1]
    # A direction with no variance would be divided by zero; it carries nothing to rank by either.
    return mu, vectors[:, order], np.maximum(values[order], values.max() * 1e-12)


def whitened(vectors: np.ndarray, fit: tuple, k: int, p: float) -> np.ndarray:
    mu, eigenvectors, eigenvalues = fit
    out = ((vectors - mu) @ eigenvectors[:, :k]) * eigenvalues[:k] ** -p
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def anisotropy(vectors: np.ndarray, fit: tuple) -> dict:
    """Mean cosine over all pairs of distinct rows (exact: from the norm of their sum), and the share of the
    variance in the first 10 components."""
    n, total = len(vectors), vectors.sum(axis=0, dtype=np.float64)
    eigenvalues = fit[2]
    return {"mean_pair_cosine": round(float((total @ total - n) / (n * (n - 1))), 4),
            "variance_in_first_10": round(float(eigenvalues[:10].sum() / eigenvalues.sum()), 4)}


def name(setting: tuple) -> str:
    k, p = setting
    return f"k {k} p {p:g}"


def parse_setting(text: str) -> tuple:
    k, p = text.split(":")
    return int(k), float(p)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.whitening")
    table_arguments(parser)
    setting_argument(parser, parse_setting, "K:P")
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    library_vectors = unit_vectors(library)
    fit = fitted(library_vectors)

    def vectors_for(setting, q_vectors, l_vectors, _allowed):
        return whitened(q_vectors, fit, *setting), whitened(l_vectors, fit, *setting)

    settings = [(k, p) for p in POWERS for k in DIMENSIONS]
    write_json({"queries": source, "library": args.tables[-1], "window": args.window,
                "library_anisotropy": anisotropy(library_vectors, fit),
                **settings_compared(queries, library, args.window, settings, vectors_for, name, args.setting)},
               args.out)


if __name__ == "__main__":
    main()
