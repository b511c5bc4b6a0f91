"""The results table (Markdown) and plot (Recall@k curves, queries per second) of a comparison, the
JSON output of the smaller analyses, and the per-query tables they read back."""

import json
from pathlib import Path

from llm4ms.streams import atomic_output


def _rate(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def markdown(report: dict) -> str:
    subset = report["subset"]
    has_subset = subset["n"] < report["n_queries"]
    lines = [f"Task **{report['task']}**: {report['n_queries']:,} queries (`{Path(report['queries']).name}`) against "
             f"{report['n_library']:,} library spectra (`{Path(report['library']).name}`); spectra rejected by "
             f"llm4ms textualize: {report['rejected']['queries']} queries, {report['rejected']['library']} library.",
             ""]
    head = ["method", "queries", "R@1", "R@5", "R@10"]
    head += [f"R@1 on subset ({subset['n']})"] if has_subset else []
    head += ["top-1 Tanimoto", "library prep s", "embedding spectra/s", "search q/s", "end-to-end q/s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["methods"].values():
        embed = r["settings"].get("embedding_spectra_per_s")
        cells = [r["label"], f"{r['n_queries']:,}" + (" (subset)" if r["subset"] else ""),
                 f"{r['recall@1']:.3f}", f"{r['recall@5']:.3f}", f"{r['recall@10']:.3f}"]
        cells += [f"{r['subset_recall@1']:.3f}"] if has_subset else []
        cells += [f"{r['mean_top1_tanimoto']:.3f}", f"{r['library_prep_s']:.1f}", _rate(embed),
                  _rate(r["search_queries_per_s"]), _rate(r["end_to_end_queries_per_s"])]
        lines.append("| " + " | ".join(cells) + " |")
    if has_subset:
        lines += ["", f"Methods marked (subset) ran on a fixed random subset of {subset['n']} queries (numpy "
                      f"seed {subset['seed']}); the subset column scores every method on those same queries."]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(report["methods"].values())
    figure, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120, gridspec_kw={"width_ratios": [3, 2]})
    ks = list(range(1, 11))
    for r in methods:
        curves.plot(ks, [r[f"recall@{k}"] for k in ks], marker="o", markersize=3,
                    label=r["method"] + (" *" if r["subset"] else ""))
    curves.set_xlabel("k")
    curves.set_ylabel("Recall@k (distinct compounds)")
    curves.set_ylim(0, 1)
    curves.set_xticks(ks)
    curves.grid(alpha=0.3)
    curves.legend(fontsize=7, loc="lower right")
    curves.set_title(f"{report['task']}: {report['n_queries']} queries vs {report['n_library']} spectra"
                     + (f" (* {report['subset']['n']}-query subset)" if report["subset"]["n"] < report["n_queries"]
                        else ""), fontsize=9)
    names = [r["method"] for r in methods]
    bars.barh(names, [r["end_to_end_queries_per_s"] for r in methods])
    bars.set_xscale("log")
    bars.set_xlabel("queries per second, end to end (query prep + search)")
    bars.invert_yaxis()
    bars.tick_params(axis="y", labelsize=7)
    bars.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    with atomic_output(str(path), ".png") as tmp:
        figure.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(figure)


def per_query_lines(path: str | Path) -> list[str]:
    """The lines of a per-query table of `llm4ms score` (header first), without its '# llm4ms' provenance line."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if not line.startswith("#")]


def write_text(path: str | Path, text: str) -> None:
    """``text`` to ``path``, whole or not at all: a run stopped mid-write leaves the previous file (earlier
    figures, a cache entry) as it was, never a truncated one that a later run would read."""
    with atomic_output(str(path), Path(path).suffix) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(report: dict, out: str | None) -> None:
    """An analysis's result to --out (folders made as needed), or to stdout without one."""
    text = json.dumps(report, indent=2)
    if out is None:
        print(text)
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text + "\n")
