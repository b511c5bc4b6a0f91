"""What an audit of search and score found: options that changed nothing without a word, notes and warnings
that misled, and TSV hits that score could not read back. (Ties and -k: tests/test_index.py and
tests/test_rerank.py.)"""

import json

import pyarrow.parquet as pq
import pytest

from llm4ms.steps.search import OPEN_NO_HITS, hits_table


@pytest.mark.parametrize("option, value, parent", [
    ("--rerank-weight", "1", "--rerank"), ("--rerank-depth", "5", "--rerank"),
    ("--rerank-tolerance", "0.05", "--rerank"), ("--window-unit", "ppm", "--precursor-window"),
])
def test_an_option_without_the_one_it_refines_is_said_to_be_ignored(cli, ei, option, value, parent):
    plain = cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "plain.parquet")
    given = cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "given.parquet",
                option, value)
    assert plain.exit_code == given.exit_code == 0
    assert f"warning: {option} applies only with {parent}; ignored" in given.stderr
    assert "warning" not in plain.stderr
    rows = [pq.read_table(ei / name).to_pylist() for name in ("plain.parquet", "given.parquet")]
    assert rows[0] == rows[1]


def test_an_open_search_without_neighbours_does_not_speak_of_a_window():
    # an IVF index whose probed lists are empty gives no neighbour; the note named a precursor window
    library = {"id": ["a"], "name": ["n"], "inchikey": [None], "smiles": [None], "adduct": [None],
               "precursor_mz": [None]}
    stats = {"without_hits": 0}
    open_rows = hits_table(["q1", "q2"], [150.0, None], [[], [(0, 0.5)]], library, stats).to_pylist()
    assert open_rows[0]["note"] == OPEN_NO_HITS and "window" not in OPEN_NO_HITS and open_rows[1]["note"] is None
    window_rows = hits_table(["q1"], [150.0], [[]], library, stats, window=True).to_pylist()
    assert window_rows[0]["note"] == "no library spectrum within the precursor window"
    assert stats["without_hits"] == 2


def test_tsv_hits_score_as_parquet_hits_with_line_separators_in_names_and_tabs_in_ids(cli, work, tiny_model):
    # str.splitlines() broke a row at a U+2028 in a compound name ("5 columns, header has 11"), and an id with
    # a tab, written with a space in TSV, was "not in" the truth table it came from
    library = (work / "ei_library.msp").read_text().split("\n")
    library[0] += "\u2028(a name pasted from a PDF)\u0085"
    (work / "ei_library.msp").write_text("\n".join(library))
    queries = (work / "ei_queries.msp").read_text()
    (work / "ei_queries.msp").write_text(queries.replace("DB#: MSBNK-MSSJ-MSJ02420", "DB#: MSBNK-MSSJ-MSJ02420\tb", 1))
    for role in ("library", "queries"):
        assert cli("textualize", "-q", work / f"ei_{role}.msp", "-o", work / f"{role}.parquet").exit_code == 0
        assert cli("embed", "-q", work / f"{role}.parquet", "-o", work / f"{role}.emb.parquet",
                   "--model", tiny_model).exit_code == 0
    assert "\t" in pq.read_table(work / "queries.parquet").column("id")[0].as_py()
    assert cli("build-index", work / "library.emb.parquet", "-o", work / "library.index").exit_code == 0
    summaries = []
    for hits in ("hits.tsv", "hits.parquet"):
        assert cli("search", "-q", work / "queries.emb.parquet", work / "library.index", "-o", work / hits,
                   "-k", "50").exit_code == 0
        result = cli("score", work / hits, "--truth", work / "queries.parquet", "--summary", "-", "-o",
                     work / f"{hits}.per-query.tsv")
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        summaries.append({key: value for key, value in summary.items() if key.startswith("recall@")})
    assert "\u2028" in (work / "hits.tsv").read_text()  # the name as it is, not rewritten
    assert summaries[0] == summaries[1]
    per_query = [(work / f"{hits}.per-query.tsv").read_text().split("\n")[2:] for hits in ("hits.tsv", "hits.parquet")]
    assert per_query[0] == per_query[1]


def test_score_warns_that_spectrum_hits_can_hold_fewer_compounds_than_k(cli, ei):
    for group in ("compound", "spectrum"):
        assert cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / f"{group}.parquet",
                   "-k", "20", "--group", group).exit_code == 0
    library = pq.read_table(ei / "library.parquet", columns=["inchikey"]).column("inchikey").to_pylist()
    assert len({key[:14] for key in library if key}) < len(library)  # some compound has several spectra
    spectrum = cli("score", ei / "spectrum.parquet", "--truth", ei / "queries.parquet", "-k", "20")
    compound = cli("score", ei / "compound.parquet", "--truth", ei / "queries.parquet", "-k", "20")
    assert spectrum.exit_code == compound.exit_code == 0
    assert "ranks spectra (search --group spectrum)" in spectrum.stderr and "fewer than 20 compounds" in spectrum.stderr
    assert "warning" not in compound.stderr


def test_hits_score_cannot_read_are_input_errors_naming_the_line(cli, ei):
    # without its rank column a hits TSV scored Recall 0 with exit 0; a broken provenance line or rank was
    # E_INTERNAL (exit 1)
    from test_bad_input import fails

    assert cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.tsv").exit_code == 0
    provenance, header, *rows = (ei / "hits.tsv").read_text().split("\n")[:-1]
    columns = header.split("\t")

    def without(column):
        keep = [i for i, name in enumerate(columns) if name != column]
        return "\n".join("\t".join(line.split("\t")[i] for i in keep) for line in [header, *rows]) + "\n"

    cases = {"norank.tsv": (without("rank"), "line 1: not a hits table (no rank column)"),
             "noname.tsv": (without("name"), None),  # only the per-query top1_name is then empty
             "nolib.tsv": (provenance + "\n" + without("library_id"),
                           "line 2: not a hits table (no library_id column)"),
             "json.tsv": ("# llm4ms {not json\n" + header + "\n", "line 1: the provenance line is not JSON"),
             "rank.tsv": ("\n".join([provenance, header, rows[0].replace("\t1\t", "\tx\t", 1)]) + "\n",
                          "line 3: rank 'x' or score")}
    for name, (text, message) in cases.items():
        (ei / name).write_text(text)
        if message is None:
            assert cli("score", ei / name, "--truth", ei / "queries.parquet").exit_code == 0
        else:
            fails(cli("score", ei / name, "--truth", ei / "queries.parquet"), 3, f"{name}: {message}")
    (ei / "full.tsv").write_text("\n".join([header, *rows]) + "\n")  # no provenance line: still scored
    assert cli("score", ei / "full.tsv", "--truth", ei / "queries.parquet").exit_code == 0
