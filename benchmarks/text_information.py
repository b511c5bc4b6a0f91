"""How much of a spectrum does its text keep? Recall of one classical score, the task's weighted cosine
on binned peaks, computed on what each step of textualization leaves:

- ``all peaks``: the cleaned spectrum, binned at the task's resolution (EI 1 Da, MS/MS 0.01 Da);
- ``text peaks``: only the peaks the template writes (threshold, strongest ``top_n``), still with their
  intensities, at the task's resolution and then at the text's (its m/z decimals);
- ``text order``: those peaks with their intensities replaced by the library's median relative intensity
  at their rank, since the text gives only the order of the peaks (the strongest first);
- ``text set``: those peaks, all equally strong.

An encoder reads only the text, so the ``text order`` row is about what a scorer that learned the
intensity profile could recover from it: if that row falls short of a target, the template has to carry
more before training can reach it.

    python -m benchmarks.text_information --task ei|ms2 [--out F.json]
"""

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import sparse

from llm4ms.index.search import PrecursorWindow
from llm4ms.scoring import compound_ranks, inchikey_block, recall_at_k
from llm4ms.textualize.peaks import select_peaks
from llm4ms.textualize.settings import DEFAULTS, MSMS, EI as EI_TEMPLATE

from .data import TASKS, spectra_table
from .methods import best_rows
from .report import write_json

KS = (1, 5, 10)


def binned(peak_lists, decimals: int, mz_power: float, intensity_power: float):
    """Rows of m/z^a · I^b at m/z rounded to ``decimals``, L2-normalised, so a product is the cosine of
    two spectra whose peaks match when they round to the same value."""
    scale = 10 ** decimals
    rows, cols, values = [], [], []
    for i, peaks in enumerate(peak_lists):
        for mz, intensity in peaks:
            rows.append(i)
            cols.append(int(round(mz * scale)))
            values.append(mz ** mz_power * intensity ** intensity_power)
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=(len(peak_lists), max(cols, default=0) + 1))
    matrix.sum_duplicates()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(1)).ravel())
    return sparse.diags(1 / np.where(norms > 0, norms, 1)) @ matrix


def rank_profile(peak_lists, top_n: int) -> np.ndarray:
    """Median relative intensity of the r-th strongest peak over a library: what a reader of the text
    can infer about intensity from a peak's place in it."""
    profile = np.zeros(top_n)
    for r in range(top_n):
        values = [peaks[r][1] for peaks in peak_lists if len(peaks) > r]
        profile[r] = np.median(values) if values else profile[r - 1]
    return profile


def all_peaks(table, resolution: int) -> list:
    """Every peak of each spectrum, m/z rounded to ``resolution`` decimals, strongest first."""
    return [select_peaks(m, i, len(m) or 1, 0.0, resolution)
            for m, i in zip(table.column("mz").to_pylist(), table.column("intensities").to_pylist())]


def variants(table, params: dict, resolution: int, profile: np.ndarray | None = None, weighting=(0.0, 1.0)):
    """(name, peak lists, decimals) for every step of textualization; with ``profile`` None it is made
    from these spectra (pass the library's profile when scoring queries). The last row keeps the
    ``top_n`` peaks the scorer weighs most (m/z^a · I^b for ``weighting`` (a, b)) instead of the strongest:
    another choice a template could make."""
    mz, intensities = table.column("mz").to_pylist(), table.column("intensities").to_pylist()
    full = all_peaks(table, resolution)
    at_resolution = [select_peaks(m, i, params["top_n"], params["threshold"], resolution)
                     for m, i in zip(mz, intensities)]
    text = [select_peaks(m, i, params["top_n"], params["threshold"], params["decimals"])
            for m, i in zip(mz, intensities)]
    if profile is None:
        profile = rank_profile(text, params["top_n"])
    order = [[(m, profile[r]) for r, (m, _) in enumerate(peaks)] for peaks in text]
    mz_power, intensity_power = weighting
    weighed = [select_peaks(m, i, params["top_n"], params["threshold"], params["decimals"], weighting)
               for m, i in zip(mz, intensities)]
    flat = [[(m, 1.0) for m, _ in peaks] for peaks in text]
    decimals = params["decimals"]
    steps = [("all peaks", full, resolution),
             (f"text peaks (≥ {params['threshold']:.1%}, {params['top_n']} strongest), m/z to {resolution} decimals",
              at_resolution, resolution)]
    if decimals != resolution:
        steps.append((f"text peaks, m/z to {decimals} decimals", text, decimals))
    return profile, steps + [("text order (median intensity at each rank)", order, decimals),
                             ("text set (all peaks equal)", flat, decimals),
                             (f"{params['top_n']} peaks weighed most (m/z^{mz_power:g} · I^{intensity_power:g}), "
                              f"with intensities", weighed, decimals)]


def ranks(scores: np.ndarray, truth: list, library) -> dict:
    """Query row → rank of its compound (None beyond the best 200 spectra) in a query × library score matrix,
    by `llm4ms score`'s rule; -inf marks a spectrum that is not a candidate (outside the precursor window,
    or the query itself)."""
    ids, inchikeys = library.column("id").to_pylist(), library.column("inchikey").to_pylist()
    hits = {}
    for q, row in enumerate(scores):
        rows, values = best_rows(row)  # 200 spectra: enough for 10 distinct compounds
        hits[q] = [(ids[r], inchikeys[r]) for r, value in zip(rows, values) if np.isfinite(value)]
    return compound_ranks(hits, dict(enumerate(truth)))


def recall(scores: np.ndarray, truth: list, library) -> dict:
    """Recall@k of a query × library score matrix (see ``ranks``)."""
    found = ranks(scores, truth, library)
    return {name: round(value, 4) for name, value in recall_at_k(found.values(), KS).items()}


def measure(queries, library, template: str, resolution: int, mz_power: float, intensity_power: float,
            window: float | None = None) -> dict:
    params = DEFAULTS[template]
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    outside = None
    if window is not None:
        inside = PrecursorWindow(library.column("precursor_mz").to_pylist())
        outside = np.ones((queries.num_rows, library.num_rows), dtype=bool)
        for q, precursor in enumerate(queries.column("precursor_mz").to_pylist()):
            if precursor is not None:
                outside[q, inside.rows(precursor, window)] = False
    weighting = (mz_power, intensity_power)
    profile, library_variants = variants(library, params, resolution, weighting=weighting)
    _, query_variants = variants(queries, params, resolution, profile, weighting)
    result = {"rank_profile": [round(float(p), 4) for p in profile]}
    for (name, library_peaks, decimals), (_, query_peaks, _) in zip(library_variants, query_variants):
        both = binned(library_peaks + query_peaks, decimals, mz_power, intensity_power)
        scores = (both[library.num_rows:] @ both[:library.num_rows].T).toarray()
        if outside is not None:
            scores[outside] = -np.inf
        result[name] = recall(scores, truth, library)
    return result


def task_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--task", choices=sorted(TASKS), default="ei")
    parser.add_argument("--work", default=None, help="harness work folder (default benchmarks/work/TASK)")
    parser.add_argument("--out", help="JSON file (default: stdout)")
    return parser


def task_tables(args):
    """(task, its template, query table, library table): the harness's spectra tables of ``--task``."""
    task = TASKS[args.task]
    work = Path(args.work or Path(__file__).parent / "work" / task.name)
    queries, library = (pq.read_table(spectra_table(path, work)[0]) for path in (task.queries, task.library))
    return task, EI_TEMPLATE if task.unit_mass else MSMS, queries, library


def main(argv=None):
    args = task_parser("python -m benchmarks.text_information").parse_args(argv)
    task, template, queries, library = task_tables(args)
    resolution = 0 if task.unit_mass else 2
    result = {"task": task.name, "template": template, "text_params": DEFAULTS[template],
              "weighting": {"mz_power": task.mz_power, "intensity_power": task.intensity_power},
              "open": measure(queries, library, template, resolution, task.mz_power, task.intensity_power)}
    if task.window:
        result[f"window {task.window} Da"] = measure(queries, library, template, resolution, task.mz_power,
                                                     task.intensity_power, task.window)
    write_json(result, args.out)


if __name__ == "__main__":
    main()
