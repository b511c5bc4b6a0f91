"""One entry point for the llm4ms benchmarks.

    python -m benchmarks compare --task ei|ms2 [--methods all|classical|llm4ms|a,b,...] [--model M --adapter A ...]
    python -m benchmarks compare --queries Q.mgf --library L.mgf --like ms2 [--methods ...]
    python -m benchmarks speed [--n 200]
    python -m benchmarks scale --embeddings LIB.emb.parquet [--sizes 10000,100000,1000000] [--kinds ...]
    python -m benchmarks bad-inputs
    python -m benchmarks memory [--runs 10000,100000:--adapter none --layers 1] [--kinds flat,hnsw]

`compare` runs every method on the same spectra and writes results.json, results.md and recall.png to
--out (default benchmarks/results/<task>[-<label>]); intermediate files (spectra tables, embeddings,
hits, per-query ranks) stay in --work for re-use.
"""

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from llm4ms.backbone.encoder import DTYPES
from llm4ms.textualize.settings import PEAK_CHOICES, STRONGEST

from .compare import METHODS, run, save_json
from .data import TASKS, custom_task
from .machine import machine
from .methods.llm4ms import Llm4msOptions
from .report import markdown, plot, write_text

HERE = Path(__file__).resolve().parent
GROUPS = {"all": list(METHODS), "llm4ms": [m for m in METHODS if METHODS[m].embeds],
          "classical": [m for m in METHODS if not METHODS[m].embeds]}


def _methods(text: str) -> list:
    names = []
    for part in text.split(","):
        names += GROUPS.get(part, [part])
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        choices = ", ".join(list(GROUPS) + list(METHODS))
        raise SystemExit(f"benchmarks: unknown method {unknown[0]!r}; choose from {choices}")
    return list(dict.fromkeys(names))


def _ints(text: str) -> list:
    return [int(float(part)) for part in text.split(",")]


def compare(args, command: str) -> None:
    if args.queries or args.library:
        if not (args.queries and args.library):
            raise SystemExit("benchmarks: --queries and --library go together")
        task = custom_task(args.queries, args.library, args.like)
    else:
        task = TASKS[args.task]
    if args.slow_queries is not None:
        task = replace(task, slow_queries=args.slow_queries or None)
    options = Llm4msOptions(args.model, args.adapter, args.layers, args.template, args.device, args.batch_size,
                            args.rerank_depth, args.rerank_weight, args.dtype, args.peak_choice,
                            args.also_peak_choice)
    label = args.label or "-".join(filter(None, [task.name] + ([] if args.model == "smollm2-135m" else
                                                                [Path(args.model).name]) +
                                                  ([Path(args.adapter).name] if args.adapter != "auto" else []) +
                                                  ([f"L{args.layers}"] if args.layers else []) +
                                                  ([args.template] if args.template != "auto" else []) +
                                                  ([args.peak_choice] if args.peak_choice != STRONGEST else []) +
                                                  ([f"also-{args.also_peak_choice}"] if args.also_peak_choice else [])))
    out = Path(args.out or HERE / "results" / label)
    work = Path(args.work or HERE / "work" / task.name)
    report = run(task, _methods(args.methods), work, out, options, args.seed,
                 log=lambda message: print(message, file=sys.stderr))
    report.update({"machine": machine(), "date": time.strftime("%Y-%m-%d"), "command": command,
                   "llm4ms_options": options.__dict__})
    save_json(report, out / "results.json")
    write_text(out / "results.md", markdown(report) + f"\nCommand: `{command}`; machine: {report['machine']}; "
                                                        f"date: {report['date']}.\n")
    plot(report, out / "recall.png")
    print(markdown(report))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("compare", "speed"):
        p = sub.add_parser(mode)
        p.add_argument("--model", default="smollm2-135m")
        p.add_argument("--layers", type=int)
        p.add_argument("--device", default="auto")
        p.add_argument("--batch-size", type=int, default=16)
        p.add_argument("--dtype", default="auto", choices=DTYPES)
    cmp = sub.choices["compare"]
    cmp.add_argument("--task", choices=TASKS, default="ei")
    cmp.add_argument("--queries", help="Your own query spectra file (with --library).")
    cmp.add_argument("--library", help="Your own library spectra file (with --queries).")
    cmp.add_argument("--like", choices=TASKS, default="ms2", help="Settings for your own files: ei or ms2.")
    cmp.add_argument("--methods", default="all", help="Comma-separated methods or groups: " +
                     ", ".join(list(GROUPS) + list(METHODS)))
    cmp.add_argument("--adapter", default="auto", help="As llm4ms embed: a folder, auto (default) or none.")
    cmp.add_argument("--template", default="auto")
    cmp.add_argument("--peak-choice", choices=sorted(PEAK_CHOICES), default=STRONGEST,
                     help="As llm4ms textualize: which peaks the EI texts keep (llm4ms methods only).")
    cmp.add_argument("--also-peak-choice", choices=sorted(PEAK_CHOICES),
                     help="As llm4ms embed: a second text view beside the first (llm4ms methods only).")
    cmp.add_argument("--rerank-depth", type=int, default=50)
    cmp.add_argument("--rerank-weight", type=float, default=0.5,
                     help="As llm4ms search (hybrid methods): 1 is plain re-ranking, as before 2026-11-28.")
    cmp.add_argument("--slow-queries", type=int, help="Queries for slow methods (0: all; default per task).")
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--out")
    cmp.add_argument("--work")
    cmp.add_argument("--label", help="Name of the results folder.")
    sub.choices["speed"].add_argument("--n", type=int, default=200)
    sub.choices["speed"].add_argument("--out", help="Folder for speed.json and speed.md (default: benchmarks/results).")
    sc = sub.add_parser("scale", help="Index kinds on 10 k to 1 M perturbed copies of real library embeddings.")
    sc.add_argument("--embeddings", required=True, help="An llm4ms embeddings table of real library spectra.")
    sc.add_argument("--sizes", type=_ints, default=[10_000, 100_000, 1_000_000])
    sc.add_argument("--kinds", type=lambda text: text.split(","), default=["flat", "hnsw", "ivf", "ivfpq"],
                    help="Comma-separated kinds, each with build-index options if wanted, e.g. 'hnsw --hnsw-m 16'.")
    sc.add_argument("--queries", type=int, default=10_000)
    sc.add_argument("--noise", type=float, default=1.0,
                    help="Perturbation size in median nearest-neighbour distances of the real vectors.")
    sc.add_argument("--work", default="/tmp/llm4ms-scale", help="Folder for the synthetic tables and indexes.")
    sc.add_argument("--keep", action="store_true", help="Keep the synthetic tables and indexes in --work.")
    sc.add_argument("--out", default=str(HERE / "results" / "scale"))
    mem = sub.add_parser("memory", help="Peak memory of embed and build-index as the library grows.")
    mem.add_argument("--runs", type=lambda text: text.split(","), default=["10000", "10000:--adapter none --layers 1",
                                                                           "100000:--adapter none --layers 1"],
                     help="Comma-separated SIZE[:EMBED OPTIONS], e.g. '10000,100000:--adapter none --layers 1'.")
    mem.add_argument("--kinds", type=lambda text: text.split(","), default=["flat", "hnsw"])
    sub.add_parser("bad-inputs", help="Each kind of bad input through the real command: exit code, stderr, output.")
    args = parser.parse_args(argv)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.mode == "compare":
        compare(args, command)
    elif args.mode == "scale":
        from .scale import scale

        scale(args, command)
    elif args.mode == "bad-inputs":
        from .bad_inputs import bad_inputs

        bad_inputs(args, command)
    elif args.mode == "memory":
        from .memory import memory

        memory(args, command)
    else:
        from .speed import speed

        speed(args, command)


if __name__ == "__main__":
    main()
