"""Do the encoder's intermediate layers add to its last? One forward pass gives every layer's hidden states;
each is mean-pooled over the text as llm2vec pools the last, the intermediate ones after the model's final
RMSNorm (the last layer's output has it, and raw residual streams carry a few huge activations that would
swamp a cosine). Cosine of the last layer plus w times that of layer L ranks as one cosine on the
concatenation [last; sqrt(w) · layer L] of unit vectors, so an index would take it as it is.

    python -m benchmarks.layer_mix embed EMB.parquet -o LAYERS.npy [--model PATH]
        every layer's unit vectors of the texts of a harness embeddings table, made as it was made (model,
        adapter, layers, precision and batch size from its record): rows x layers x dim, float32
    python -m benchmarks.layer_mix compare [QUERIES.emb.parquet] LIBRARY.emb.parquet --layers [Q.npy] L.npy
        [--window 0.01] [--setting L:W|L:alone] [--centre] [--out F.json]

compare scores layer L alone and last + w · layer L (LAYERS x WEIGHTS) as ``benchmarks.query_expansion``
scores its settings (with --centre, every layer but the last centred on the library's mean first); with
the library alone its held-out spectra are the queries (as ``benchmarks.fusion``). It refuses layer files
whose last layer is not the table's embedding (a cosine below AGREEMENT on any row).
"""

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from llm4ms import tables

from .fusion import read_tables, table_arguments
from .hubness import unit_vectors
from .query_expansion import setting_argument, settings_compared
from .report import write_json

LAYERS = (4, 6, 8, 10, 11)
WEIGHTS = (None, 0.25, 0.5, 1.0)  # None: layer L alone
AGREEMENT = 0.9999


def every_layer(encoder) -> None:
    """Make ``encoder.encode`` return every layer's pooled vector side by side, each of unit length (encode's
    own normalisation then divides them all by one constant; ``layer_vectors`` undoes it)."""
    import torch

    from llm4ms.backbone.encoder import with_separator

    inner = encoder.encoder

    def forward(texts):
        features = {k: v.to(encoder.device) for k, v in inner.tokenize(with_separator(texts)).items()}
        embed_mask = features.pop("embed_mask", None)
        states = inner.model(**features, output_hidden_states=True).hidden_states  # embeddings, layer 1, ... last
        features["embed_mask"] = embed_mask
        normed = [inner.model.norm(h) for h in states[1:-1]] + [states[-1]]
        return torch.cat([torch.nn.functional.normalize(inner.get_pooling(features, h).float(), dim=-1)
                          for h in normed], dim=-1)

    encoder._forward = forward
    encoder.record["dim"] *= encoder.record["layers"]


def layer_vectors(flat: np.ndarray, layers: int) -> np.ndarray:
    stacked = flat.reshape(len(flat), layers, -1)
    return stacked / np.linalg.norm(stacked, axis=2, keepdims=True)


def embed(table_path: str, out: str, model: str | None = None) -> None:
    from tqdm import tqdm

    from llm4ms.steps.embed import CHUNK_ROWS, load_encoder

    table = pq.read_table(table_path, columns=["text", "template"])
    made = tables.read_provenance(Path(table_path), table_path, (tables.EMBEDDINGS,))
    settings = made["history"][-1]["parameters"]
    # the record names the model and a shipped adapter by name: an alias and "auto" find them, and what they
    # find must be what the table was made with; its resolved precision, not this machine's auto
    encoder = load_encoder(model or settings["model"], "auto" if settings["adapter"] else None, "cpu",
                           settings["dtype"], settings["layers"], settings["max_length"],
                           templates=set(table.column("template").to_pylist()))
    for key in ("fingerprint", "adapter"):
        if encoder.record[key] != made["model"][key]:
            raise SystemExit(f"benchmarks.layer_mix: {table_path} was embedded with {key} {made['model'][key]}, "
                             f"this encoder has {encoder.record[key]}")
    every_layer(encoder)
    texts = table.column("text").to_pylist()
    with tqdm(total=len(texts), unit="spectrum", desc="layers") as bar:
        # embed sorts by length within each chunk of its --chunk-rows (default assumed: the record lacks it): the
        # same chunks and batch size give the same batches, so the same padding and (in bf16) the same last-layer
        # vectors as the table's
        flat = np.concatenate([encoder.encode(texts[start:start + CHUNK_ROWS], settings["batch_size"], progress=bar)
                               for start in range(0, len(texts), CHUNK_ROWS)])
    np.save(out, layer_vectors(flat, encoder.record["layers"]))


def agreeing(layers: np.ndarray, table, where: str) -> np.ndarray:
    """The layer file, once its last layer is the table's embedding row for row."""
    if len(layers) != table.num_rows:
        raise SystemExit(f"benchmarks.layer_mix: {where}: not the layers of this table ({len(layers)} rows against "
                         f"{table.num_rows})")
    agreement = np.einsum("nd,nd->n", layers[:, -1], unit_vectors(table))
    if agreement.min() < AGREEMENT:
        raise SystemExit(f"benchmarks.layer_mix: {where}: not the layers of this table (lowest cosine of its last "
                         f"layer to the embedding {agreement.min():.5f})")
    return layers


def centred(query_layers: np.ndarray, library_layers: np.ndarray) -> tuple:
    """Both with every layer but the last centred on the library's mean and of unit length again: after the
    final norm the middle layers lie nearly along one direction, which leaves their cosines little range."""
    mean = library_layers[:, :-1].mean(axis=0)

    def shifted(layers):
        out = layers.copy()
        out[:, :-1] -= mean
        out[:, :-1] /= np.linalg.norm(out[:, :-1], axis=2, keepdims=True)
        return out

    return shifted(query_layers), shifted(library_layers)


def mixed(layers: np.ndarray, setting: tuple) -> np.ndarray:
    """Unit vectors whose cosine is that of layer L alone, or the last layer's plus w times layer L's."""
    layer, weight = setting
    if weight is None:
        return layers[:, layer - 1]
    both = np.concatenate([layers[:, -1], np.sqrt(weight) * layers[:, layer - 1]], axis=1)
    return both / np.sqrt(1 + weight)


def name(setting: tuple) -> str:
    layer, weight = setting
    return f"layer {layer}" if weight is None else f"last + {weight:g} layer {layer}"


def parse_setting(text: str) -> tuple:
    layer, weight = text.split(":")
    return int(layer), None if weight == "alone" else float(weight)


def compare(argv) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layer_mix compare")
    table_arguments(parser)
    parser.add_argument("--layers", nargs="+", required=True, metavar="[Q.npy] L.npy")
    setting_argument(parser, parse_setting, "L:W|L:alone")
    parser.add_argument("--centre", action="store_true",
                        help="centre each intermediate layer on its library mean (the last is left as it is)")
    args = parser.parse_args(argv)
    if len(args.layers) != len(args.tables):
        parser.error("one layer file for each table")
    library_layers = np.load(args.layers[-1])
    ids = pq.read_table(args.tables[-1], columns=["id"]).column("id").to_pylist()
    row_of = {row_id: row for row, row_id in enumerate(ids)}
    if len(row_of) != len(ids):
        parser.error(f"{args.tables[-1]}: ids repeat, so held-out rows cannot be found by id")
    queries, library, source = read_tables(parser, args)

    def rows(table):  # the held-out split's tables are rows of the library file
        return library_layers[[row_of[i] for i in table.column("id").to_pylist()]]

    query_layers = agreeing(np.load(args.layers[0]) if len(args.layers) == 2 else rows(queries), queries,
                            args.layers[0])
    library_layers = agreeing(rows(library), library, args.layers[-1])
    if args.centre:
        query_layers, library_layers = centred(query_layers, library_layers)

    def vectors_for(setting, _q_vectors, _l_vectors, _allowed):
        return mixed(query_layers, setting), mixed(library_layers, setting)

    settings = [(layer, weight) for weight in WEIGHTS for layer in LAYERS]
    write_json({"queries": source, "library": args.tables[-1], "window": args.window, "layer_files": args.layers,
                "centred": args.centre,
                **settings_compared(queries, library, args.window, settings, vectors_for, name, args.setting)},
               args.out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layer_mix")
    parser.add_argument("command", choices=("embed", "compare"))
    args, rest = parser.parse_known_args(argv)
    if args.command == "compare":
        return compare(rest)
    embedding = argparse.ArgumentParser(prog="python -m benchmarks.layer_mix embed")
    embedding.add_argument("table")
    embedding.add_argument("-o", "--out", required=True)
    embedding.add_argument("--model", help="the table's model, if its recorded name is not an alias")
    options = embedding.parse_args(rest)
    embed(options.table, options.out, options.model)


if __name__ == "__main__":
    main()
