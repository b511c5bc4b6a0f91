import click

from ..index.store import INDEX_KINDS
from .common import shown, handles_errors, output_option, report


@click.command("build-index")
@click.argument("embeddings")
@output_option
@click.option("--kind", type=click.Choice(INDEX_KINDS), default="flat", show_default=True,
              help="flat: exact inner-product (cosine) search.")
@handles_errors("build-index")
def build_index_command(embeddings, output, kind):
    """Build one library index file from an embeddings table (- for stdin)."""
    from ..index import build_index

    count = build_index(embeddings, output, kind)
    report("build-index", f"indexed {count} library spectra ({kind}) in {shown(output)}")
