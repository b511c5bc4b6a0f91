"""The training set: every library spectrum with its compound, fingerprint, positives and hard negatives.

Mined once from a textualized library (RDKit, scipy) and written as Parquet, so training itself needs
neither and several stages or losses reuse one mining run.
"""

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..spectra.fields import inchikey_block
from ..tables import SPECTRA_SCHEMA
from ..textualize.settings import EI_TEMPLATES
from .above_mass import above_mass_flags
from .fingerprints import morgan_bits, tanimoto_matrix

TRAINING_SET = "llm4ms.training-set"
_CANDIDATES = 64  # spectral neighbours looked at per spectrum when picking hard negatives
_NEIGHBOURS = 8
_WINDOW_DA = 0.01

EXTRA_FIELDS = [
    pa.field("compound", pa.string()),
    pa.field("fingerprint", pa.binary()),
    pa.field("positives", pa.list_(pa.int32())),
    pa.field("neighbours", pa.list_(pa.int32())),
    pa.field("hard_negatives", pa.list_(pa.int32())),
]
# Optional: sets mined before it existed train as they always did, and only --positives same-kind needs it.
ABOVE_MASS = pa.field("above_mass", pa.bool_())


def _binned(mz_lists, intensity_lists):
    """Unit-mass √I vectors, L2-normalised: cheap and good enough to find spectrally close pairs."""
    from scipy import sparse

    rows, cols, values = [], [], []
    for i, (mz, intensity) in enumerate(zip(mz_lists, intensity_lists)):
        if not mz:
            continue
        bins = np.rint(np.asarray(mz)).astype(np.int64)
        weight = np.sqrt(np.maximum(np.asarray(intensity, dtype=float), 0))
        rows.extend([i] * len(bins))
        cols.extend(bins.tolist())
        values.extend(weight.tolist())
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=(len(mz_lists), max(cols, default=0) + 1))
    matrix.sum_duplicates()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(1)).ravel())
    return sparse.diags(1 / np.where(norms > 0, norms, 1)) @ matrix


def _compound_fingerprints(keys, smiles, inchis):
    order = sorted({k for k in keys if k})
    index = {k: i for i, k in enumerate(order)}
    prints: list = [None] * len(order)
    for key, smi, inchi in zip(keys, smiles, inchis):
        if key and prints[index[key]] is None:
            prints[index[key]] = morgan_bits(smi, inchi)
    return order, index, prints


def mine(table: pa.Table, positive_tanimoto: float, negative_tanimoto: float, hard_negatives: int,
         progress=None) -> tuple[pa.Table, dict]:
    """Add compound, fingerprint, positives, neighbours, hard negatives and above-mass flags to a spectra
    table."""
    keys = [inchikey_block(k) for k in table.column("inchikey").to_pylist()]
    smiles = table.column("smiles").to_pylist()
    inchis = [_inchi(m) for m in table.column("metadata_json").to_pylist()]
    order, index, prints = _compound_fingerprints(keys, smiles, inchis)
    has_print = np.array([p is not None for p in prints], dtype=bool)
    packed = np.stack([p if p is not None else np.zeros(256, np.uint8) for p in prints]) if prints else \
        np.zeros((0, 256), np.uint8)
    compound_of = np.array([index[k] if k else -1 for k in keys])
    similarity = np.zeros((len(order), len(order)), dtype=np.float32)
    for start in range(0, len(order), 2048):
        similarity[start:start + 2048] = tanimoto_matrix(packed[start:start + 2048], packed)
    similarity[~has_print] = 0
    similarity[:, ~has_print] = 0
    np.fill_diagonal(similarity, 1)

    members: dict[int, list[int]] = {}
    for row, c in enumerate(compound_of):
        if c >= 0:
            members.setdefault(int(c), []).append(row)
    positives = [[r for r in members.get(int(c), []) if r != row] if c >= 0 else []
                 for row, c in enumerate(compound_of)]
    neighbours_of_compound = {}
    for c in members:
        close = np.flatnonzero(similarity[c] >= positive_tanimoto)
        close = close[(close != c) & has_print[close]] if has_print[c] else close[:0]
        close = close[np.argsort(-similarity[c, close], kind="stable")][:_NEIGHBOURS]
        neighbours_of_compound[c] = [members[int(o)][0] for o in close]
    neighbours = [neighbours_of_compound.get(int(c), []) if c >= 0 else [] for c in compound_of]

    mz, intensities = table.column("mz").to_pylist(), table.column("intensities").to_pylist()
    vectors = _binned(mz, intensities)
    precursor = np.array([p if p is not None else np.nan for p in table.column("precursor_mz").to_pylist()])
    negatives = []
    for start in range(0, table.num_rows, 1024):
        block = (vectors[start:start + 1024] @ vectors.T).toarray()
        for offset, scores in enumerate(block):
            row = start + offset
            negatives.append(_hard_negatives(row, scores, compound_of, similarity, precursor,
                                             negative_tanimoto, positive_tanimoto, hard_negatives))
        if progress is not None:
            progress.update(len(block))
    above = above_mass_flags(smiles, inchis, mz, intensities,
                             [t in EI_TEMPLATES for t in table.column("template").to_pylist()])
    columns = {
        "compound": pa.array(keys, pa.string()),
        "fingerprint": pa.array([prints[c].tobytes() if c >= 0 and prints[c] is not None else None
                                 for c in compound_of], pa.binary()),
        "positives": pa.array(positives, pa.list_(pa.int32())),
        "neighbours": pa.array(neighbours, pa.list_(pa.int32())),
        "hard_negatives": pa.array(negatives, pa.list_(pa.int32())),
        ABOVE_MASS.name: pa.array(above, ABOVE_MASS.type),
    }
    for name, values in columns.items():
        table = table.append_column(name, values)
    summary = {"spectra": table.num_rows, "compounds": len(order),
               "without_compound": int((compound_of < 0).sum()),
               "without_structure": int(sum(1 for c in compound_of if c >= 0 and prints[c] is None)),
               "with_same_compound_positive": int(sum(bool(p) for p in positives)),
               "with_tanimoto_neighbour": int(sum(bool(n) for n in neighbours)),
               "with_hard_negative": int(sum(bool(n) for n in negatives)),
               "ei_above_compound_mass": sum(bool(f) for f in above)}
    return table, summary


def _hard_negatives(row, scores, compound_of, similarity, precursor, negative_tanimoto, positive_tanimoto, k):
    """Spectrally closest spectra of structurally far compounds; for MS/MS also the closest ones of other
    compounds inside the precursor window, the candidates a windowed search must tell apart."""
    own = compound_of[row]
    if own < 0:
        return []
    scores = scores.copy()
    scores[compound_of == own] = -1
    scores[compound_of < 0] = -1
    chosen: list[int] = []
    if not np.isnan(precursor[row]):
        window = np.flatnonzero(np.abs(precursor - precursor[row]) <= _WINDOW_DA)
        window = window[(scores[window] > -1) & (similarity[own, compound_of[window]] < positive_tanimoto)]
        chosen.extend(window[np.argsort(-scores[window], kind="stable")][: k // 2].tolist())
    candidates = np.argpartition(-scores, min(_CANDIDATES, len(scores) - 1))[:_CANDIDATES]
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    for other in candidates:
        if len(chosen) >= k:
            break
        if scores[other] > 0 and similarity[own, compound_of[other]] < negative_tanimoto and other not in chosen:
            chosen.append(int(other))
    return chosen


def _inchi(metadata_json: str | None) -> str | None:
    import json

    return json.loads(metadata_json).get("inchi") if metadata_json else None


def check_training_set(table: pa.Table, name: str) -> None:
    missing = [c for c in SPECTRA_SCHEMA.names + [f.name for f in EXTRA_FIELDS] if c not in table.column_names]
    if missing:
        raise InputError(f"{name}: training set lacks columns {', '.join(missing)}",
                         hint="make it with llm4ms train --save-examples")
