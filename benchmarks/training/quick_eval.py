"""A fast dev-set check of an adapter, for choosing between training variants inside one run.

It embeds with llm4ms's own encoder and ranks distinct compounds by their best library spectrum, as
`llm4ms search` and `llm4ms score` do, but with one matrix product on the device instead of an index,
so a GPU run can compare several adapters in seconds. Reported numbers come from the harness
(`python -m benchmarks compare`), not from here.
"""

import json

import numpy as np
import pyarrow.parquet as pq
import torch

from llm4ms.backbone.encoder import SpectrumEncoder
from llm4ms.backbone.resolve import resolve_model
from llm4ms.backbone.adapters import resolve_adapter
from llm4ms.spectra.fields import inchikey_block
from llm4ms.steps.embed import side_by_side
from llm4ms.textualize import second_view_texts
from llm4ms.textualize.settings import with_peak_choice

WINDOW_DA = 0.01


def _table(path):
    """(texts, compound keys, precursor m/z, the table itself)"""
    table = pq.read_table(path)
    keys = table.column("compound").to_pylist() if "compound" in table.column_names else \
        [inchikey_block(k) for k in table.column("inchikey").to_pylist()]
    return table.column("text").to_pylist(), keys, np.array(
        [p if p is not None else np.nan for p in table.column("precursor_mz").to_pylist()], dtype=float), table


def recall(query_vectors, query_keys, query_precursor, library_vectors, library_keys, library_precursor,
           device, window: bool) -> dict:
    codes = {k: i for i, k in enumerate(sorted(set(library_keys)))}
    library_codes = torch.as_tensor([codes[k] for k in library_keys], device=device)
    library = torch.as_tensor(library_vectors, device=device)
    hits = np.zeros(10)
    for start in range(0, len(query_vectors), 1024):
        scores = torch.as_tensor(query_vectors[start:start + 1024], device=device) @ library.T
        if window:
            inside = torch.as_tensor(np.abs(query_precursor[start:start + 1024, None] - library_precursor[None, :])
                                     <= WINDOW_DA + 1e-9, device=device)
            scores = scores.masked_fill(~inside, -2.0)
        best = torch.full((len(scores), len(codes)), -3.0, device=device)
        best = best.scatter_reduce(1, library_codes.expand(len(scores), -1), scores, reduce="amax")
        top = best.topk(10, dim=1)
        for row, (values, indices) in enumerate(zip(top.values.cpu().numpy(), top.indices.cpu().numpy())):
            wanted = codes.get(query_keys[start + row])
            found = [i for i, (v, c) in enumerate(zip(values, indices)) if c == wanted and v > -2.0]
            if found:
                hits[found[0]:] += 1
    total = len(query_vectors)
    return {f"recall@{k}": round(float(hits[k - 1] / total), 4) for k in (1, 5, 10)}


def _second_view(encoder, table, texts, first, also_peak_choice, batch_size):
    """Both views side by side, as `llm4ms embed --also-peak-choice` stores them."""
    textualization = json.loads(table.schema.metadata[b"llm4ms"])["textualization"]
    params = with_peak_choice(textualization, also_peak_choice)["templates"]
    return side_by_side(first, encoder.encode(second_view_texts(table, texts, params), batch_size))


def evaluate(model: str, adapter: str | None, layers: int, queries: str, library: str, device: str,
             window: bool, batch_size: int = 256, also_peak_choice: str | None = None) -> dict:
    """Recall on the texts as trained; with ``also_peak_choice`` also on both views (key ``both``)."""
    encoder = SpectrumEncoder(resolve_model(model), adapter_path=adapter, adapter=resolve_adapter(adapter),
                              device=device, layers=layers)
    q_texts, q_keys, q_prec, q_table = _table(queries)
    l_texts, l_keys, l_prec, l_table = _table(library)
    q = encoder.encode(q_texts, batch_size)
    lib = encoder.encode(l_texts, batch_size)
    result = {"open": recall(q, q_keys, q_prec, lib, l_keys, l_prec, encoder.device, False)}
    if window:
        result["window"] = recall(q, q_keys, q_prec, lib, l_keys, l_prec, encoder.device, True)
    if also_peak_choice:
        q2 = _second_view(encoder, q_table, q_texts, q, also_peak_choice, batch_size)
        lib2 = _second_view(encoder, l_table, l_texts, lib, also_peak_choice, batch_size)
        result["both"] = recall(q2, q_keys, q_prec, lib2, l_keys, l_prec, encoder.device, False)
    return result
