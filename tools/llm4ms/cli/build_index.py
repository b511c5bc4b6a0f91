import click

from ..index import kinds
from ..index.store import CHUNK_ROWS
from .common import (given_options, handles_errors, output_option, progress_factory, quiet_option, report, shown,
                     threads_option, use_threads)


@click.command("build-index")
@click.argument("embeddings")
@output_option
@click.option("--kind", type=click.Choice(kinds.KINDS), default="flat", show_default=True,
              help="flat: exact; ~1,400 queries/s on 100,000 spectra, 170/s on 1,000,000 (2 cores). hnsw: a "
                   "graph, the fast choice for large libraries (18,000 queries/s on 1,000,000 at recall@10 0.98), "
                   "vectors plus 0.27 kB per spectrum. ivf: inverted lists, quicker to build than hnsw. ivfpq: "
                   "inverted lists of product-quantized codes, 26x less memory, approximate scores. All score by "
                   "cosine (inner product of unit vectors).")
@click.option("--hnsw-m", type=click.IntRange(2, 256), default=kinds.HNSW_M, show_default=True,
              help="hnsw: links per spectrum in the graph (twice that on the bottom layer). More: better "
                   "recall, more memory, slower build.")
@click.option("--ef-construction", type=click.IntRange(1), default=kinds.EF_CONSTRUCTION, show_default=True,
              help="hnsw: candidates kept while linking each spectrum. More: a better graph, slower build.")
@click.option("--ef-search", type=click.IntRange(1), default=kinds.EF_SEARCH, show_default=True,
              help="hnsw: candidates kept while searching, recorded in the index (search --ef-search "
                   "overrides it). More: better recall, slower search.")
@click.option("--nlist", type=click.IntRange(1),
              help="ivf, ivfpq: number of inverted lists. Default: 4·√N, at most N/39 (k-means needs 39 "
                   "spectra per list) and 65,536.")
@click.option("--nprobe", type=click.IntRange(1), default=kinds.NPROBE, show_default=True,
              help="ivf, ivfpq: lists scanned per query, recorded in the index (search --nprobe overrides it). "
                   "More: better recall, slower search.")
@click.option("--pq-m", type=click.IntRange(1),
              help="ivfpq: sub-vectors per vector, each coded in --pq-bits; must divide the embedding "
                   "dimension. Default: its largest divisor up to 64 (64 for 576: 64 bytes per spectrum).")
@click.option("--pq-bits", type=click.IntRange(1, 16), default=kinds.PQ_BITS, show_default=True,
              help="ivfpq: bits per sub-vector code (2^bits centroids, trained on at least as many spectra).")
@click.option("--chunk-rows", type=click.IntRange(1), default=CHUNK_ROWS, show_default=True,
              help="Vectors read from the embeddings table at a time.")
@threads_option
@quiet_option
@handles_errors("build-index")
def build_index_command(embeddings, output, kind, hnsw_m, ef_construction, ef_search, nlist, nprobe, pq_m, pq_bits,
                        chunk_rows, threads, quiet):
    """Build one library index file from an embeddings table (- for stdin)."""
    from ..index import build_index
    from ..streams import check_paths

    check_paths([embeddings], {"-o": output})
    given = given_options()
    for option, applies in kinds.BUILD_PARAMETERS.items():
        if option in given and kind not in applies:  # the index would not record it: a typo in --kind goes unseen
            report("build-index", f"warning: --{option.replace('_', '-')} applies only to --kind "
                                  f"{' or '.join(applies)}; ignored")
    use_threads(threads)
    options = kinds.IndexOptions(kind, hnsw_m, ef_construction, ef_search, nlist, nprobe, pq_m, pq_bits)
    count = build_index(embeddings, output, options, chunk_rows, progress_factory(quiet, "spectra", "build-index"))
    report("build-index", f"indexed {count} library spectra ({kind}) in {shown(output)}")
