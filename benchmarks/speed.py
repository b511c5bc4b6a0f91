"""Embedding speed, lever by lever: from the paper's text through all layers in float32 to what `llm4ms
embed` does by default, on the same spectra, through the encoder the command uses.

Each step changes one thing and is timed on the same N spectra per task (EI: ei_library.msp; MS/MS:
ms2pos_library.mgf; a seeded sample), after a warm-up batch. Beside each: the mean tokens per text and,
where the step changes the arithmetic, the cosine between its vectors and those of the float32 step with
the same model (1 = the same vectors). Recall@1 for the settings that change the vectors comes from the
benchmark harness (`compare`) on the full dev files; benchmarks/RESULTS.md puts them side by side.
"""

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from llm4ms.steps.embed import load_encoder
from llm4ms.steps.textualize import textualize_files
from llm4ms.textualize import TextSettings

from .data import DATA
from .machine import machine, timed
from .report import write_text

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Step:
    name: str
    template: str  # "auto": the task's default template
    adapter: str = "auto"
    layers: int | None = None
    dtype: str = "float32"
    sorted_batches: bool = True
    threads: int | None = None  # None: torch's default (all cores)
    batch_size: int = 16


# Each step is the one before with one change, except the "instead" rows, which try an alternative to
# the step before them; "default" is what `llm4ms embed` does with no options.
STEPS = [
    Step("paper text, 30 layers, no adapter, float32, batches in file order", "paper", "none", 30,
         sorted_batches=False),
    Step("compact text", "auto", "none", 30, sorted_batches=False),
    Step("first 12 layers + shipped adapter", "auto", sorted_batches=False),
    Step("length-sorted batches", "auto"),
    Step("instead: 1 thread", "auto", threads=1),
    Step("instead: batch 64", "auto", batch_size=64),
    Step("bf16-mixed (float32 weights, bf16 matrix products)", "auto", dtype="bf16-mixed"),
    Step("instead: bfloat16 weights", "auto", dtype="bfloat16"),
    # auto resolves by the CPU: a row of its own, so that a machine without native bf16 shows what it chose.
    Step("default (--dtype auto)", "auto", dtype="auto"),
]
TASKS = {"ei": ("ei_library.msp", {"paper": "paper-ei", "auto": "ei"}),
         "ms2": ("ms2pos_library.mgf", {"paper": "paper-ei", "auto": "msms"})}


def texts_for(task: str, template: str, n: int, work: Path) -> tuple[list[str], str]:
    source, names = TASKS[task]
    table_path = work / f"{task}.{names[template]}.parquet"
    if not table_path.exists():
        textualize_files([str(DATA / source)], str(table_path), TextSettings(names[template]))
    texts = pq.read_table(table_path, columns=["text"]).column("text").to_pylist()
    rows = np.random.default_rng(0).choice(len(texts), min(n, len(texts)), replace=False)
    return [texts[i] for i in rows], names[template]


def run_step(step: Step, texts: list[str], template: str, model: str, device: str):
    """(spectra/s, vectors, encoder record) of one step."""
    encoder = load_encoder(model, step.adapter, device, step.dtype, step.layers, 512, None, {template})
    threads = torch.get_num_threads()
    if step.threads:
        torch.set_num_threads(step.threads)
    try:
        def encode():
            if step.sorted_batches:
                return encoder.encode(texts, step.batch_size)
            return np.concatenate([encoder.encode(texts[i:i + step.batch_size], step.batch_size)
                                   for i in range(0, len(texts), step.batch_size)])

        encoder.encode(texts[:step.batch_size], step.batch_size)  # warm-up: first calls allocate
        vectors, seconds = timed(encode)
    finally:
        torch.set_num_threads(threads)
    return len(texts) / seconds, vectors, encoder


def speed(args, command: str):
    work = Path(tempfile.mkdtemp(prefix="llm4ms-speed-"))
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": command, "model": args.model,
              "device": args.device, "n": args.n, "steps": []}
    references = {}  # float32 vectors per (task, template, layers, adapter): what the other steps are compared with
    for step in STEPS:
        row = {"step": step.name, **{k: v for k, v in step.__dict__.items() if k != "name"}}
        for task in TASKS:
            texts, template = texts_for(task, step.template, args.n, work)
            per_s, vectors, encoder = run_step(step, texts, template, args.model, args.device)
            key = (task, step.template, encoder.record["layers"], step.adapter)
            reference = references.get(key)
            if encoder.dtype == "float32":
                references[key] = vectors
            cosines = None if reference is None else np.sum(vectors * reference, axis=1)
            row[task] = {"template": template, "spectra_per_s": round(per_s, 1),
                         "mean_tokens": round(float(np.mean(encoder.token_lengths(texts))), 1),
                         "dtype": encoder.dtype, "layers": encoder.record["layers"],
                         "adapter": (encoder.record["adapter"] or {}).get("name"),
                         "min_cosine_vs_float32": None if cosines is None else round(float(cosines.min()), 5),
                         "mean_cosine_vs_float32": None if cosines is None else round(float(cosines.mean()), 5)}
            print(f"speed: {step.name} [{task}]: {json.dumps(row[task])}", flush=True)
        report["steps"].append(row)
    shutil.rmtree(work)
    out = Path(args.out) if args.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "speed.json", json.dumps(report, indent=1) + "\n")
    write_text(out / "speed.md", markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    lines = [f"# Embedding speed, lever by lever ({report['date']})", "",
             f"{report['n']} spectra per task (seeded sample of the library files), model {report['model']}, "
             f"device {report['device']}. Cosine: vectors against the float32 step with the same model "
             "(min / mean).", "",
             "| step | EI spectra/s | EI tokens | EI cosine | MS/MS spectra/s | MS/MS tokens | MS/MS cosine |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["steps"]:
        cells = []
        for task in TASKS:
            r = row[task]
            cosine = "—" if r["min_cosine_vs_float32"] is None else \
                f"{r['min_cosine_vs_float32']} / {r['mean_cosine_vs_float32']}"
            cells += [str(r["spectra_per_s"]), str(r["mean_tokens"]), cosine]
        chose = f" → {row['ei']['dtype']}" if row["dtype"] == "auto" else ""
        lines.append(f"| {row['step']}{chose} | " + " | ".join(cells) + " |")
    lines += ["", f"Command: `{report['command']}`; machine: {report['machine']}.", ""]
    return "\n".join(lines)
