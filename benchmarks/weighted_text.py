"""Can the shipped EI encoder read a text whose 30 peaks are the ones the weighted cosine weighs most
(m/z³ · I^0.6) instead of the 30 strongest? `text_information` says that choice keeps what a cosine
needs (0.739 against 0.710 on the text's peaks); this measures what the trained encoder makes of it
without retraining: the harness's EI tables are written both ways (the same template, peaks still
strongest first, only the set differs), embedded with the same adapter and scored by `llm4ms score`'s
rule.

    python -m benchmarks.weighted_text [--adapter auto] [--threads 2] [--out F.json]
"""

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from llm4ms.index.store import vectors_of
from llm4ms.scoring import inchikey_block
from llm4ms.steps.embed import embed_table, load_encoder
from llm4ms.textualize.settings import DEFAULTS, EI
from llm4ms.textualize.templates import ei_text

from .report import write_json
from .text_information import recall, task_tables, weighed_peaks


def weighted_texts(table: pa.Table, mz_power: float, intensity_power: float) -> pa.Table:
    """``table`` with each text rewritten from the weighted choice of peaks, ordered as the template
    orders them (strongest first, ties to the lower m/z)."""
    params = DEFAULTS[EI]
    texts = []
    for mz, intensities in zip(table.column("mz").to_pylist(), table.column("intensities").to_pylist()):
        peaks = weighed_peaks(mz, intensities, params, mz_power, intensity_power)
        texts.append(ei_text(sorted(peaks, key=lambda peak: (-peak[1], peak[0]))))
    return table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))


def embedded(table: pa.Table, path: Path, encoder) -> np.ndarray:
    pq.write_table(table, path)
    out = path.with_suffix(".emb.parquet")
    embed_table(str(path), str(out), encoder)
    return vectors_of(pq.read_table(out, columns=["embedding"]).column("embedding"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.weighted_text")
    parser.add_argument("--adapter", default="auto", help="as `llm4ms embed --adapter` (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.task, args.work = "ei", None
    task, _, queries, library = task_tables(args)
    folder = Path(__file__).parent / "work" / task.name / "weighted-text"
    # embed_table would resume from a killed run's chunks, which may come from another adapter; and the
    # rewritten tables still carry the template's textualization record, so they must not outlive this run
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    encoder = load_encoder("smollm2-135m", args.adapter, "auto", "auto", None, 512, None, {EI})
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    result = {"task": task.name, "adapter": args.adapter, "model": encoder.record,
              "weighting": {"mz_power": task.mz_power, "intensity_power": task.intensity_power}}
    for slug, name, rewrite in (
            ("template", "strongest 30 (the template)", lambda t: t),
            ("weighted", "30 weighed most", lambda t: weighted_texts(t, task.mz_power, task.intensity_power))):
        start = time.perf_counter()
        q = embedded(rewrite(queries), folder / f"queries.{slug}.parquet", encoder)
        lib = embedded(rewrite(library), folder / f"library.{slug}.parquet", encoder)
        scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (lib / np.linalg.norm(lib, axis=1, keepdims=True)).T
        result[name] = {**recall(scores, truth, library), "seconds": round(time.perf_counter() - start, 1)}
    shutil.rmtree(folder)
    write_json(result, args.out)


if __name__ == "__main__":
    main()
