import click

from .common import handles_errors, report


@click.command("score")
@click.argument("hits")
@click.option("--truth", required=True, help="The queries' spectra or embeddings table (true compounds).")
@click.option("-o", "--output", help="Per-query TSV (rank of the true compound, top hit, Tanimoto).")
@click.option("--summary", help="Summary JSON.")
@click.option("--plot", help="Recall@k PNG.")
@click.option("-k", "ks", type=click.IntRange(1), multiple=True, default=(1, 5, 10), show_default=True,
              help="Recall@k cut-offs (repeat the option).")
@click.option("--skip-unannotated", is_flag=True,
              help="Leave queries without a valid InChIKey out of the recall (counted on stderr and in the "
                   "summary) instead of failing.")
@handles_errors("score")
def score_command(hits, truth, output, summary, plot, ks, skip_unannotated):
    """Score hits (- for stdin) against the true compounds: Recall@k over distinct compounds."""
    from ..steps.score import score_files
    from ..streams import check_paths

    check_paths([hits, truth], {"-o": output, "--summary": summary, "--plot": plot})
    result = score_files(hits, truth, tuple(sorted(set(ks))), output, summary, plot,
                         warn=lambda message: report("score", message), skip_unannotated=skip_unannotated)
    line = f"{result['n_queries']} queries: " + ", ".join(
        f"Recall@{k} {result[f'recall@{k}']:.3f}" for k in result["ks"])
    if result["mean_top1_tanimoto"] is not None:
        line += f", mean top-1 Tanimoto {result['mean_top1_tanimoto']:.3f}"
    # stdout is a summary only when no data goes there.
    click.echo(line, err="-" in (output, summary, plot))
