"""Adapter arithmetic without training: write an adapter whose update is a linear combination of saved
adapters' updates (a stage scaled, or stages averaged in weight space), for the harness to read.

    python -m benchmarks.adapter_arithmetic OUT 0.5:tools/llm4ms/adapters/ei 0.5:STAGE8

Each TERM is COEFFICIENT:FOLDER. The plan and results: results/adapter-arithmetic/.
"""

import json
import sys
from pathlib import Path

import click

from llm4ms.training.adapters import combine_adapters


def _term(text: str) -> tuple[float, Path]:
    coefficient, _, folder = text.partition(":")
    try:
        return float(coefficient), Path(folder)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected COEFFICIENT:FOLDER") from None


@click.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.argument("terms", nargs=-1, required=True)
def main(out: Path, terms: tuple[str, ...]) -> None:
    record = combine_adapters([_term(t) for t in terms], out)
    json.dump(record, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
