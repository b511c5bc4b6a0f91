import click

from .. import __version__
from .build_index import build_index_command
from .embed import embed_command
from .score import score_command
from .search import search_command
from .textualize import textualize_command
from .train import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llm4ms")
def main():
    """llm4ms: identify compounds from mass spectra with LLM embeddings (LLM4MS, Xu et al. 2025).

    textualize → embed → build-index → search → score (and train for the encoder); every file argument
    takes - for stdin/stdout.
    """


for command in (textualize_command, embed_command, build_index_command, search_command, score_command,
                train_command):
    main.add_command(command)


if __name__ == "__main__":
    main()
