"""Add the encoder's own confusions to a training set's hard negatives (ANCE-style mining, Xiong et al. 2021).

  python -m benchmarks.training.model_negatives ei_library.train.parquet ei_library.emb.parquet \
      -o ei_library.model-negatives.parquet [--per-spectrum 8]

`llm4ms train --save-examples` mines hard negatives by a √I cosine: spectrally close, structurally far
(Tanimoto < 0.4). An embedding's Recall@1 errors are something else: the library spectra *it* ranks above
the right compound, which that cosine need not find close, and a third of them analogues (Tanimoto 0.4-0.8)
that it never offers (EI stage 5: benchmarks/RESULTS.md). This script embeds nothing itself; it
takes the library embedded with the adapter a stage will start from (`llm4ms embed`, same rows in the same
order) and, per spectrum, adds to its hard negatives the nearest spectra by embedding cosine whose compound
is neither its own nor a Tanimoto positive (>= the set's positive threshold, as the loss forbids those).
The sampler draws one negative per anchor from the union, so about half the drawn negatives are the
model's. Library files only: mining on queries would be tuning to them.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from llm4ms import tables
from llm4ms.streams import atomic_output
from llm4ms.training.examples import TRAINING_SET, check_training_set
from llm4ms.index.store import vectors_of
from llm4ms.training.fingerprints import tanimoto_matrix
from llm4ms.training.sampler import Examples

_BLOCK = 1024


def model_negatives(examples: Examples, vectors: np.ndarray, positive_tanimoto: float, per_spectrum: int):
    """(per-row lists of the model's hard negatives, the Tanimoto of each row's first one or NaN)."""
    compound_of, known, packed = examples.compound_ids, examples.has_print, examples.prints  # no compound: < 0
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    chosen, first_tanimoto = [], []
    for start in range(0, len(vectors), _BLOCK):
        scores = vectors[start:start + _BLOCK] @ vectors.T
        similarity = tanimoto_matrix(packed[start:start + _BLOCK], packed)
        for offset, row_scores in enumerate(scores):
            row = start + offset
            if compound_of[row] < 0:
                chosen.append([])
                first_tanimoto.append(np.nan)
                continue
            allowed = (compound_of >= 0) & (compound_of != compound_of[row])
            if known[row]:
                allowed &= ~known | (similarity[offset] < positive_tanimoto)
            candidates = np.flatnonzero(allowed)
            top = candidates[np.argsort(-row_scores[candidates], kind="stable")[:per_spectrum]]
            chosen.append(top.tolist())
            first_tanimoto.append(float(similarity[offset, top[0]]) if len(top) and known[row] and known[top[0]]
                                  else np.nan)
    return chosen, np.array(first_tanimoto)


def _fail(message: str) -> None:
    print(f"model_negatives: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("training_set", type=Path, help="made by llm4ms train --save-examples")
    parser.add_argument("embeddings", type=Path, help="the same library embedded with the starting adapter")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--per-spectrum", type=int, default=8)
    args = parser.parse_args(argv)
    provenance = tables.read_provenance(args.training_set, args.training_set.name, (TRAINING_SET,))
    embedded = tables.read_provenance(args.embeddings, args.embeddings.name, (tables.EMBEDDINGS,))
    if embedded["textualization"] != provenance["textualization"]:
        _fail(f"{args.embeddings}: textualized with other settings than {args.training_set}")
    training = pq.read_table(args.training_set)
    check_training_set(training, args.training_set.name)
    embeddings = pq.read_table(args.embeddings, columns=["id", "embedding"])
    if embeddings.column("id").to_pylist() != training.column("id").to_pylist():
        _fail(f"{args.embeddings}: rows are not the training set's spectra in its order; embed that library")
    mining = provenance["history"][-1]["parameters"]
    examples = Examples(training, provenance["textualization"])
    added, first = model_negatives(examples, vectors_of(embeddings.column("embedding")), mining["positive_tanimoto"],
                                   args.per_spectrum)
    spectral = examples.negatives
    union = [s + [r for r in m if r not in s] for s, m in zip(spectral, added)]
    training = training.set_column(training.column_names.index("hard_negatives"), "hard_negatives",
                                   pa.array(union, pa.list_(pa.int32())))
    known = first[~np.isnan(first)]
    summary = {"spectra_with_model_negatives": int(sum(bool(m) for m in added)),
               "model_negatives_already_spectral": int(sum(len(s) + len(m) - len(u)
                                                           for s, m, u in zip(spectral, added, union))),
               "first_model_negative_tanimoto": {"median": round(float(np.median(known)), 4),
                                                 "at_least_0.4": round(float((known >= 0.4).mean()), 4)}
               if len(known) else None}
    # llm4ms train reads the set's mining summary from its last step, so this step carries it forward.
    step = tables.step_record("benchmarks.training.model_negatives",
                              {**mining, "per_spectrum": args.per_spectrum,
                               "model": tables.model_identity(embedded["model"]),
                               "summary": {**mining["summary"], "model_negatives": summary}},
                              [str(args.training_set), str(args.embeddings)])
    history = provenance["history"] + [step]
    with atomic_output(args.output, ".parquet") as tmp:
        tables.write_table(tmp, training, {**provenance, "history": history})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
