"""Can a linear map trained on the frozen embeddings, in seconds on a CPU, do what more GPU steps of the LoRA
adapter would? The map starts as the identity and is trained with the adapter's own objective (in-batch
InfoNCE over pairs of library spectra of one compound) on the library spectra of half the compounds
(``benchmarks.held_out``'s seeded split of compound keys, never the queries), then queries are ranked by
cosine after the map, as `llm4ms score` ranks, and Recall@k is given for queries of trained and of held-out
compounds.

    python -m benchmarks.projection_head QUERIES.emb.parquet LIBRARY.emb.parquet [--steps 600] [--out F.json]
"""

import argparse
import sys

import numpy as np

from llm4ms.scoring import recall_at_k
from llm4ms.spectra.fields import inchikey_block

from .fusion import read_tables, table_arguments
from .held_out import is_held_out
from .hubness import unit_vectors
from .report import write_json
from .text_information import KS, ranks

BATCH = 256
TEMPERATURE = 0.05


def same_compound_groups(keys: list, held: set) -> list[list[int]]:
    """Library rows of each trained compound with at least two spectra (the only source of positives)."""
    groups = {}
    for row, key in enumerate(keys):
        if key and key not in held:
            groups.setdefault(key, []).append(row)
    return [rows for rows in groups.values() if len(rows) > 1]


def train_map(library: np.ndarray, groups: list, steps: int, lr: float, seed: int, log) -> np.ndarray:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    weight = torch.nn.Parameter(torch.eye(library.shape[1]))
    optimizer = torch.optim.AdamW([weight], lr=lr, weight_decay=0.0)
    vectors = torch.from_numpy(library)
    batch = min(BATCH, len(groups))
    for step in range(steps):
        pairs = [rng.choice(groups[g], 2, replace=False) for g in rng.choice(len(groups), batch, replace=False)]
        anchors, positives = (torch.nn.functional.normalize(vectors[list(side)] @ weight, dim=1)
                              for side in zip(*pairs))
        logits = anchors @ positives.T / TEMPERATURE
        labels = torch.arange(batch)
        loss = (torch.nn.functional.cross_entropy(logits, labels)
                + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            log(f"projection_head: step {step}, loss {loss.item():.3f}")
    return weight.detach().numpy()


def by_group(scores: np.ndarray, truth: list, library, held_rows: np.ndarray) -> dict:
    """Recall@k of all queries and of each half, from one ranking of every query."""
    found = ranks(scores, truth, library)

    def of(rows) -> dict:
        return {name: round(value, 4) for name, value in recall_at_k([found[q] for q in rows], KS).items()}

    return {"all": of(range(len(truth))), "trained_compounds": of(np.flatnonzero(~held_rows)),
            "held_out_compounds": of(np.flatnonzero(held_rows))}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projection_head")
    table_arguments(parser)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    queries, library, source = read_tables(parser, args)
    keys = [inchikey_block(k) for k in library.column("inchikey").to_pylist()]
    held = {k for k in keys if k and is_held_out(k, 0.5, args.seed)}
    groups = same_compound_groups(keys, held)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    held_rows = np.array([k in held for k in truth])
    q, lib = unit_vectors(queries), unit_vectors(library)
    weight = train_map(lib, groups, args.steps, args.lr, args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))

    def cosines(a, b):
        a, b = a @ weight, b @ weight
        return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T

    write_json({"queries": source, "library": args.tables[-1], "steps": args.steps, "lr": args.lr, "batch": BATCH,
                "temperature": TEMPERATURE, "trained_compounds_with_pairs": len(groups),
                "queries_of_held_out_compounds": int(held_rows.sum()),
                "recall_embedding": by_group(q @ lib.T, truth, library, held_rows),
                "recall_after_map": by_group(cosines(q, lib), truth, library, held_rows)}, args.out)


if __name__ == "__main__":
    main()
