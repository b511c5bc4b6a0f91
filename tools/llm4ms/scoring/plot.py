"""Recall@k curves as PNG (matplotlib's Agg backend: no display needed)."""


def plot_recall(curves: dict, path, title: str = "Recall@k over distinct compounds") -> None:
    """``curves``: label → {k: recall}."""
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
    figure.savefig(path, format="png", metadata={"Software": None})
    plt.close(figure)
