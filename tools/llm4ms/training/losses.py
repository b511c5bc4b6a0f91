"""The stages' losses, on L2-normalised embeddings."""

import torch
import torch.nn.functional as F


def info_nce(queries, documents, scale: float, forbidden=None):
    """Cross-entropy of query i against document i among all documents (llm2vec's HardNegativeNLLLoss:
    documents are the in-batch positives followed by the hard negatives). ``forbidden`` marks
    query–document pairs that are not negatives (same or near-identical compound) and leaves them out."""
    scores = F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T * scale
    if forbidden is not None:
        scores = scores.masked_fill(forbidden, torch.finfo(scores.dtype).min)
    labels = torch.arange(len(queries), device=queries.device)
    return F.cross_entropy(scores, labels)


def tanimoto_regression(embeddings, tanimoto, known):
    """Mean squared error between embedding cosine and structure Tanimoto over every pair with known
    structures (``known``: bool matrix), each pair once."""
    vectors = F.normalize(embeddings, dim=-1)
    cosine = vectors @ vectors.T
    upper = torch.triu(torch.ones_like(known), diagonal=1) & known
    return ((cosine - tanimoto)[upper] ** 2).mean()


def masked_next_token(hidden, output_weights, input_ids, masked):
    """LLM2Vec's MNTP: the token at a masked position i is predicted from the hidden state at i - 1."""
    previous = masked[:, 1:]
    logits = hidden[:, :-1][previous] @ output_weights.T
    return F.cross_entropy(logits.float(), input_ids[:, 1:][previous])


def tanimoto_torch(packed_a, packed_b):
    """Tanimoto between rows of two packed-bit uint8 tensors."""
    bits = torch.arange(7, -1, -1, device=packed_a.device)
    a = ((packed_a.unsqueeze(-1) >> bits) & 1).flatten(1).float()
    b = ((packed_b.unsqueeze(-1) >> bits) & 1).flatten(1).float()
    both = a @ b.T
    either = a.sum(1)[:, None] + b.sum(1)[None, :] - both
    return torch.where(either > 0, both / either.clamp(min=1), torch.zeros_like(both))
