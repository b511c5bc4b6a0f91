"""Recall@k curves as PNG (matplotlib's Agg backend: no display needed)."""


def plot_recall(curves: dict, path, title: str = "Recall@k over distinct compounds", provenance=None) -> None:
    """``curves``: label → {k: recall}; ``provenance`` goes into the PNG as a text chunk named llm4ms."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.6), dpi=120)
    for label, curve in curves.items():
        ks = sorted(curve)
        axes.plot(ks, [curve[k] for k in ks], marker="o", label=label)
    axes.set_xlabel("k")
    axes.set_ylabel("Recall@k")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    # no Software chunk (matplotlib's version): the same figures give the same bytes
    metadata = {"Software": None}
    if provenance is not None:
        metadata["llm4ms"] = json.dumps(provenance, sort_keys=True)
    figure.savefig(path, format="png", metadata=metadata)
    plt.close(figure)
