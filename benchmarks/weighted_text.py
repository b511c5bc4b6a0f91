"""Can the shipped EI encoder read a text whose 30 peaks are the ones the weighted cosine weighs most
(m/z³ · I^0.6) instead of the 30 strongest? `text_information` says that choice keeps what a cosine
needs (0.739 against 0.710 on the text's peaks); this measures what the trained encoder makes of it
without retraining: the harness's EI tables rewritten with the weighted choice (the same template,
peaks still strongest first, only the set differs) are embedded with the adapter of the harness's own
embeddings of the template's texts (re-used from its work folder), and both are scored by `llm4ms
score`'s rule.

    python -m benchmarks.weighted_text [--adapter auto] [--threads 2] [--out F.json]

It also scores both texts together (the two cosines summed): what one encoder gains from reading each
spectrum both ways.
"""

import argparse
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from llm4ms.scoring import inchikey_block
from llm4ms.steps.embed import embed_table
from llm4ms.textualize import TextSettings, texts_of_rows
from llm4ms.textualize.settings import MZ_WEIGHTED

from .methods.llm4ms import Embeddings, Llm4msOptions
from .ensemble import ensemble, vectors
from .report import write_json
from .text_information import task_tables


def weighted_texts(table: pa.Table) -> pa.Table:
    """``table`` with each text rewritten as `llm4ms textualize --peak-choice mz-weighted` writes it, but
    still under the template's textualization record: the point is to show the encoder a text it was not
    trained on, which that record would otherwise (rightly) refuse."""
    texts = [text for text, _ in texts_of_rows(table, TextSettings(peak_choice=MZ_WEIGHTED).identity()["templates"])]
    return table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.weighted_text")
    parser.add_argument("--adapter", default="auto", help="as `llm4ms embed --adapter` (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", help="JSON file (default: stdout)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task, _, queries, library = task_tables(argparse.Namespace(task="ei", work=None))
    work = Path(__file__).parent / "work" / task.name
    # The template's texts are the harness's own embeddings (made once, kept in its work folder); only the
    # rewritten texts are embedded here, by the same encoder.
    harness = Embeddings(task, Llm4msOptions(adapter=args.adapter), work)
    as_trained = {role: harness.get(role)[0] for role in ("queries", "library")}
    folder = work / "weighted-text"
    # embed_table would resume from a killed run's chunks, which may come from another adapter; and the
    # rewritten tables still carry the template's textualization record, so they must not outlive this run
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for role, table in (("queries", queries), ("library", library)):
        pq.write_table(weighted_texts(table), folder / f"{role}.parquet")
    encoder = harness.encoder_for(folder / "queries.parquet")
    weighted = {role: folder / f"{role}.emb.parquet" for role in ("queries", "library")}
    for role, out in weighted.items():
        embed_table(str(folder / f"{role}.parquet"), str(out), encoder)
    truth = [inchikey_block(k) for k in queries.column("inchikey").to_pylist()]
    result = {"task": task.name, "adapter": args.adapter, "model": encoder.record,
              "peak_choice": MZ_WEIGHTED}
    # "both": this one encoder reading each spectrum both ways, its two cosines summed
    members = {name: (vectors(files["queries"]), vectors(files["library"]))
               for name, files in (("strongest 30 (the template)", as_trained), ("30 weighed most", weighted))}
    result.update(ensemble(members, truth, library)[0])
    shutil.rmtree(folder)
    write_json(result, args.out)


if __name__ == "__main__":
    main()
