import click

from ..index.search import GROUPS, RERANK_METHODS
from .common import (given_options, handles_errors, output_option, progress_factory, quiet_option, report, shown,
                     threads_option, use_threads)


@click.command("search")
@click.argument("queries")
@click.argument("index")
@output_option
@click.option("-k", "--top-k", type=click.IntRange(1), default=10, show_default=True, help="Hits per query.")
@click.option("--group", type=click.Choice(GROUPS), default="compound", show_default=True,
              help="compound: k distinct compounds, each by its best spectrum; spectrum: k spectra.")
@click.option("--precursor-window", type=click.FloatRange(0, min_open=True),
              help="Only library spectra whose precursor m/z is within this tolerance (MS/MS).")
@click.option("--window-unit", type=click.Choice(["da", "ppm"]), default="da", show_default=True)
@click.option("--rerank", type=click.Choice(RERANK_METHODS),
              help="Re-score the best --rerank-depth embedding hits with a spectral similarity (matchms "
                   "CosineGreedy): cosine, or weighted-cosine (EI: m/z^3·I^0.6 at nominal mass; MS/MS: √I).")
@click.option("--rerank-depth", type=click.IntRange(1), default=50, show_default=True,
              help="Library spectra taken from the embedding search per query for re-ranking; where they hold "
                   "fewer than k compounds, the embedding's next best follow in its order.")
@click.option("--rerank-tolerance", type=click.FloatRange(0, min_open=True), default=0.01, show_default=True,
              help="Fragment m/z tolerance (Da) of MS/MS re-ranking; EI spectra match at nominal mass.")
@click.option("--rerank-weight", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Re-ranking score = this × the spectral similarity + the rest × the embedding cosine. 1 ranks "
                   "by the spectral similarity alone, 0 keeps the embedding order.")
@click.option("--ef-search", type=click.IntRange(1),
              help="hnsw index: candidates kept while searching, instead of the value the index records. More: "
                   "better recall, slower.")
@click.option("--nprobe", type=click.IntRange(1),
              help="ivf/ivfpq index: lists scanned per query, instead of the number the index records. More: "
                   "better recall, slower.")
@click.option("--format", "fmt", type=click.Choice(["tsv", "parquet"]),
              help="Output format (default: parquet for *.parquet, else TSV).")
@threads_option
@quiet_option
@handles_errors("search")
def search_command(queries, index, output, top_k, group, precursor_window, window_unit, rerank, rerank_depth,
                   rerank_tolerance, rerank_weight, ef_search, nprobe, fmt, threads, quiet):
    """Search query embeddings (- for stdin) against a library index."""
    from ..index import SearchSettings
    from ..steps.search import search_files
    from ..streams import check_paths

    check_paths([queries, index], {"-o": output})
    _warn_of_unused({"rerank_depth": ("--rerank", rerank), "rerank_tolerance": ("--rerank", rerank),
                     "rerank_weight": ("--rerank", rerank), "window_unit": ("--precursor-window", precursor_window)})
    use_threads(threads)
    settings = SearchSettings(top_k, group, precursor_window, window_unit, rerank, rerank_depth, rerank_tolerance,
                              rerank_weight, ef_search, nprobe)
    stats = search_files(queries, index, output, settings, fmt,
                         progress_factory=progress_factory(quiet, "queries", "search"),
                         warn=lambda m: report("search", m))
    unit = {"compound": "compounds", "spectrum": "spectra"}[group]
    report("search", f"searched {stats['queries']} queries, top {top_k} {unit} each, to {shown(output)}"
           + (f"; {stats['without_hits']} without any hit (rows with empty rank and a note)"
              if stats["without_hits"] else ""))


def _warn_of_unused(parents: dict) -> None:
    """An option given without the one it refines (--rerank-weight without --rerank) would change nothing, and
    the hits would not say so. ``parents``: option → (the option it refines, that option's value)."""
    given = given_options()
    for option, (needed, value) in parents.items():
        if value is None and option in given:
            report("search", f"warning: --{option.replace('_', '-')} applies only with {needed}; ignored")
