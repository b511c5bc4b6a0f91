"""Batches for each stage. A batch is a pure function of (seed, step), so a resumed run sees exactly the
batches it would have seen, with no sampler state to save."""

import numpy as np

from ..textualize import second_view_texts
from ..textualize.settings import with_peak_choice
from .augment import PROFILES, perturbed_text


class Examples:
    """The training set in memory: texts plus what the supervised stage needs."""

    def __init__(self, table, textualization: dict, augment_profile: str = "light",
                 also_peak_choice: str | None = None, positives: str = "all"):
        self.texts = table.column("text").to_pylist()
        self.templates = table.column("template").to_pylist()
        self.mz = table.column("mz").to_pylist()
        self.intensities = table.column("intensities").to_pylist()
        self.precursor = table.column("precursor_mz").to_pylist()
        self.compounds = table.column("compound").to_pylist()
        self.positives = table.column("positives").to_pylist()
        self.neighbours = table.column("neighbours").to_pylist()
        self.negatives = table.column("hard_negatives").to_pylist()
        prints = table.column("fingerprint").to_pylist()
        self.has_print = np.array([p is not None for p in prints])
        self.prints = np.stack([np.frombuffer(p, np.uint8) if p is not None else np.zeros(256, np.uint8)
                                for p in prints])
        codes = {c: i for i, c in enumerate(sorted({c for c in self.compounds if c}))}
        self.compound_ids = np.array([codes[c] if c else -1 - i for i, c in enumerate(self.compounds)])
        self.anchors = np.flatnonzero(self.compound_ids >= 0)
        self.set_aside = 0  # same-compound positives of the other kind, left out with positives="same-kind"
        if positives == "same-kind":
            self._same_kind_positives(table.column("above_mass").to_pylist())
        self.perturbation = PROFILES[augment_profile]
        self._on_device = {}
        self.views = [(textualization["templates"], self.texts)]  # (settings per template, texts) per view
        if also_peak_choice is not None:
            params = with_peak_choice(textualization, also_peak_choice)["templates"]
            self.views.append((params, second_view_texts(table, self.texts, params)))

    def _same_kind_positives(self, above_mass: list) -> None:
        """Keep an EI spectrum's same-compound positives of its own kind (above its compound's mass or not);
        one left without any falls back to a Tanimoto neighbour or a perturbed copy of itself, as a
        compound with one spectrum does. None (not EI, no structure) matches either kind."""
        kept = []
        for row, pool in enumerate(self.positives):
            own = above_mass[row]
            same = [p for p in pool if own is None or above_mass[p] is None or above_mass[p] == own]
            self.set_aside += len(pool) - len(same)
            kept.append(same)
        self.positives = kept

    def tensors(self, device):
        """(fingerprints, has-fingerprint, compound ids) as tensors on ``device``, copied there once: every
        step's masks index them."""
        if device not in self._on_device:
            import torch

            self._on_device[device] = tuple(torch.as_tensor(a, device=device)
                                            for a in (self.prints, self.has_print, self.compound_ids))
        return self._on_device[device]

    def __len__(self):
        return len(self.texts)

    def text(self, row: int, rng: np.random.Generator, augment: float) -> str:
        """The row's text, or with chance ``augment`` a perturbed copy's. With a second view, each text is
        written either way with even odds: the adapter learns to read both, and half the anchors meet their
        positive (another spectrum of the compound, or a copy of their own) in the other view, which pulls
        the two views together. One view draws nothing more from ``rng``, so single-view runs see the
        batches they always saw."""
        params, texts = self.views[rng.integers(2)] if len(self.views) > 1 else self.views[0]
        if augment and rng.random() < augment:
            text = perturbed_text(rng, self.mz[row], self.intensities[row], self.precursor[row],
                                  self.templates[row], params[self.templates[row]], self.perturbation)
            if text:
                return text
        return texts[row]


def rng_for(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


def text_batch(examples: Examples, seed: int, step: int, size: int) -> tuple[list[str], np.ndarray]:
    """mntp and simcse: any spectra, no labels needed."""
    rng = rng_for(seed, step)
    rows = rng.choice(len(examples), size=min(size, len(examples)), replace=False)
    return [examples.text(r, rng, 0.0) for r in rows], rows


def supervised_batch(examples: Examples, seed: int, step: int, size: int, augment: float, hard: bool = True):
    """(anchors, positives, negatives) texts and their rows, one compound at most once per batch.

    Positive: another spectrum of the same compound, else a spectrum of a compound above the positive
    Tanimoto, else a perturbed copy of the anchor itself. Negative: one of the anchor's mined hard
    negatives (with ``hard``), else any spectrum.
    """
    rng = rng_for(seed, step)
    seen, anchors = set(), []
    for row in rng.permutation(examples.anchors):
        compound = examples.compound_ids[row]
        if compound not in seen:
            seen.add(compound)
            anchors.append(int(row))
            if len(anchors) == size:
                break
    positives, negatives = [], []
    for row in anchors:
        pool = examples.positives[row] or examples.neighbours[row]
        positives.append(int(rng.choice(pool)) if pool else row)
        pool = examples.negatives[row] if hard else None
        negative = int(rng.choice(pool)) if pool else int(rng.choice(examples.anchors))
        negatives.append(negative)
    texts = []
    for rows, forced in ((anchors, False), (positives, True)):
        texts.append([examples.text(r, rng, 1.0 if forced and r == a else augment)
                      for r, a in zip(rows, anchors)])
    texts.append([examples.text(r, rng, augment) for r in negatives])
    return texts, np.array(anchors), np.array(positives), np.array(negatives)
