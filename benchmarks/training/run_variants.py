"""Train the llm4ms adapters and compare training variants on the dev queries, within a time budget.

One process, so a GPU lease is spent on training rather than start-ups. For each task it trains:
  mntp → simcse → supervised (the LLM2Vec recipe plus the structure stage), each stage evaluated;
  supervised alone from the bare backbone (InfoNCE with hard negatives);
  supervised alone with the Tanimoto-regression loss;
and writes every result to results.json. Every stage is an `llm4ms train` run (the function the command
calls); the equivalent commands are written beside each result.

  python -m benchmarks.training.run_variants --model M --device cuda --out DIR \
      --task ei:EI_TRAIN.parquet:EI_QUERIES.parquet --task ms2:MS2_TRAIN.parquet:MS2_QUERIES.parquet
"""

import argparse
import json
import sys
import tarfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

from llm4ms.steps.train import train_adapter
from llm4ms.textualize.settings import PEAK_CHOICES
from llm4ms.training import POSITIVES, TrainSettings
from llm4ms.training.augment import PROFILES

from ..report import write_text
from .quick_eval import evaluate

EVAL_RESERVE_S = 25  # an evaluation after each stage: model load and embedding the dev files

# Shares of a task's time for each stage (seconds = share × task budget).
PLAN = [
    ("mntp", "mntp", None, {"stage": "mntp"}, 0.08),
    ("mntp+simcse", "simcse", "mntp", {"stage": "simcse"}, 0.08),
    ("mntp+simcse+supervised", "supervised", "mntp+simcse", {"stage": "supervised"}, 0.28),
    ("supervised", "supervised", None, {"stage": "supervised"}, 0.28),
    ("supervised-tanimoto", "supervised", None, {"stage": "supervised", "loss": "tanimoto"}, 0.14),
    # A further supervised stage on an adapter given with --init (a later lease continuing an earlier one).
    ("continued", "supervised", "given", {"stage": "supervised"}, 1.0),
]


def command_line(name, source, base, init, settings: TrainSettings, model):
    parts = ["llm4ms train", source, "-o", name, "--model", model, "--stage", settings.stage,
             "--loss", settings.loss, "--layers", str(settings.layers), "--steps", str(settings.steps),
             "--batch-size", str(settings.batch_size), "--lr", str(settings.lr), "--seed", str(settings.seed),
             "--augment-profile", settings.augment_profile]
    if settings.max_rank:
        parts += ["--max-rank", str(settings.max_rank)]
    if settings.also_peak_choice:
        parts += ["--also-peak-choice", settings.also_peak_choice]
    if settings.positives != "all":
        parts += ["--positives", settings.positives]
    if init:
        parts += ["--init-adapter", init]
    if settings.max_minutes:
        parts += ["--max-minutes", f"{settings.max_minutes:.2f}"]
    return " ".join(parts)


def run_task(task, train_file, queries, model, args, out, log, results):
    budget = args.task_minutes * 60
    window = task == "ms2"
    began = time.perf_counter()
    results[task] = {}
    if "zero-shot" in args.stages:
        results[task]["zero-shot"] = evaluate(model, None, args.layers, queries, train_file, args.device, window,
                                               also_peak_choice=args.also_peak_choice)
        log(f"{task} zero-shot {results[task]['zero-shot']}")
    # "none": the continued stage starts from the bare backbone (a depth run, which no shipped adapter fits)
    folders = {"given": None if args.init[task] == "none" else args.init[task]} if task in args.init else {}
    for name, stage, parent, overrides, share in PLAN:
        if name not in args.stages or (parent and parent not in folders):
            continue
        settings = replace(args.base, **overrides)
        if stage == "mntp":
            settings = replace(settings, batch_size=args.mntp_batch)
        if stage in ("mntp", "simcse"):
            settings = replace(settings, lr=args.unsupervised_lr)
        left = args.deadline - time.perf_counter() - EVAL_RESERVE_S
        if left < 20:
            results[task][name] = {"skipped": "no time left before the run's deadline"}
            log(f"{task} {name}: skipped, deadline")
            continue
        settings = replace(settings, max_minutes=min(share * budget, left) / 60)
        folder = out / f"{task}-{name}"
        try:
            start = time.perf_counter()
            made = train_adapter(train_file, str(folder), settings, model, folders.get(parent), args.device)
            seconds = time.perf_counter() - start
            scores = evaluate(model, str(folder), args.layers, queries, train_file, args.device, window,
                              also_peak_choice=settings.also_peak_choice)
            folders[name] = str(folder)
            result = made["result"]
            results[task][name] = {"dev": scores, "steps": result["steps_done"], "train_seconds": result["seconds"],
                                   "wall_seconds": round(seconds, 1),
                                   "final_loss": result["final_loss_mean_last_50"],
                                   "command": command_line(folder.name, Path(train_file).name, model,
                                                           folders.get(parent) and f"{task}-{parent}", settings,
                                                           "MODEL")}
            log(f"{task} {name}: {result['steps_done']} steps, loss {result['final_loss_mean_last_50']}, dev {scores}")
        except Exception:  # one variant failing must not cost the others their share of the lease
            results[task][name] = {"error": traceback.format_exc(limit=4)}
            log(f"{task} {name} FAILED\n{traceback.format_exc()}")
        write_text(args.report / "results.json", json.dumps(results, indent=2))
    log(f"{task} done in {time.perf_counter() - began:.0f} s")
    pack(out, args.report, task)


def pack(out: Path, destination: Path, task: str):
    """Adapter folders as a few tar files (the lease returns at most 8 files of 16 MB)."""
    groups = {"chain": [f"{task}-mntp+simcse+supervised"],
              "single": [f"{task}-supervised", f"{task}-supervised-tanimoto"], "continued": [f"{task}-continued"]}
    for label, names in groups.items():
        present = [n for n in names if (out / n).is_dir()]
        if present:
            with tarfile.open(destination / f"{task}-{label}.tar", "w") as tar:
                for n in present:
                    tar.add(out / n, arcname=n)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--task", action="append", required=True, help="name:train.parquet:queries.parquet")
    parser.add_argument("--task-minutes", type=float, required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--mntp-batch", type=int, default=128)
    parser.add_argument("--unsupervised-lr", type=float, default=1e-4, help="mntp and simcse")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--steps", type=int, default=100000, help="schedule length; the time budget stops first")
    parser.add_argument("--augment-profile", default="light", choices=sorted(PROFILES))
    parser.add_argument("--max-rank", type=int, help="llm4ms train --max-rank: cap a continued adapter's rank")
    parser.add_argument("--also-peak-choice", choices=sorted(PEAK_CHOICES),
                        help="llm4ms train --also-peak-choice (EI): train on both texts; the check also scores both")
    parser.add_argument("--positives", default="all", choices=POSITIVES,
                        help="llm4ms train --positives (EI): same-kind keeps above-mass and ordinary spectra apart")
    parser.add_argument("--stages", default=",".join(["zero-shot"] + [p[0] for p in PLAN[:-1]]),
                        help="comma-separated names from PLAN (and zero-shot)")
    parser.add_argument("--init", action="append", default=[],
                        help="task:adapter folder, for 'continued' (task:none: from the bare backbone)")
    parser.add_argument("--deadline-minutes", type=float, default=1e9, help="whole run, evaluations included")
    parser.add_argument("--out", required=True, help="adapter folders")
    parser.add_argument("--report", required=True, help="results.json, log.txt and the adapters as tar files")
    args = parser.parse_args(argv)
    args.stages = args.stages.split(",")
    args.init = dict(spec.split(":", 1) for spec in args.init)
    args.deadline = time.perf_counter() + args.deadline_minutes * 60
    args.report = Path(args.report)
    args.report.mkdir(parents=True, exist_ok=True)
    args.base = TrainSettings(layers=args.layers, batch_size=args.batch_size, lr=args.lr, steps=args.steps,
                              augment_profile=args.augment_profile, max_rank=args.max_rank,
                              also_peak_choice=args.also_peak_choice, positives=args.positives,
                              checkpoint_every=10**9)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.report / "log.txt", "a")

    def log(message):
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, file=sys.stderr, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    results = {"settings": {k: v for k, v in vars(args).items() if k not in ("base", "report", "deadline", "init")}
               | {"base": args.base.record()}}
    for spec in args.task:
        task, train_file, queries = spec.split(":")
        run_task(task, train_file, queries, args.model, args, out, log, results)


if __name__ == "__main__":
    main()
