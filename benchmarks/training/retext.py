"""Rewrite the texts of a training set under other textualization settings, keeping its mined columns.

    python -m benchmarks.training.retext ei_library.model-negatives.parquet --peak-choice mz-weighted \
        -o ei_library.weighted.parquet

Positives and hard negatives come from compounds, fingerprints and peaks, not from the texts, so a
set mined once (and its model negatives) serves a continued stage on a new text: the only difference
between that stage and one on the old text is then the text itself. The table's textualization record
is replaced, so `train` re-textualizes its perturbed copies, and checks adapters, under the new settings.
"""

import argparse
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llm4ms import tables
from llm4ms.streams import atomic_output
from llm4ms.textualize import texts_of_rows
from llm4ms.textualize.settings import PEAK_CHOICES, with_peak_choice
from llm4ms.training.examples import TRAINING_SET


def retext(table: pa.Table, provenance: dict, choice: str, source: str) -> tuple[pa.Table, dict]:
    identity = with_peak_choice(provenance["textualization"], choice)
    texts = []
    for row, (text, problem) in enumerate(texts_of_rows(table, identity["templates"])):
        if text is None:  # the old settings wrote it, so only a stricter threshold can get here
            raise SystemExit(f"row {row} ({table.column('id')[row]}): {problem}")
        texts.append(text)
    # llm4ms train reads the set's mining summary from its last step, so this step carries it forward.
    mining = provenance["history"][-1]["parameters"]
    step = tables.step_record("benchmarks.training.retext", {**mining, "peak_choice": choice}, [source])
    new = tables.new_provenance(provenance["format"], step, identity, provenance.get("model"), provenance["history"])
    return table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string())), new


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training.retext")
    parser.add_argument("training_set")
    parser.add_argument("--peak-choice", choices=sorted(PEAK_CHOICES), required=True)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    provenance = tables.read_provenance(Path(args.training_set), args.training_set, (TRAINING_SET,))
    table = pq.read_table(args.training_set)
    new_table, new_provenance = retext(table, provenance, args.peak_choice, args.training_set)
    changed = sum(a != b for a, b in zip(table.column("text").to_pylist(), new_table.column("text").to_pylist()))
    with atomic_output(args.output, ".parquet") as tmp:
        tables.write_table(tmp, new_table, new_provenance)
    json.dump({"rows": table.num_rows, "texts_changed": changed}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
