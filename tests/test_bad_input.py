"""Bad input: one stderr line naming the file and the place, a non-zero exit, and no output left behind;
or, where only some spectra are bad, those spectra listed with their reasons and the rest written."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def fails(result, code, *fragments):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.stderr
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def nothing_written(folder, name):
    assert not (folder / name).exists()
    assert not list(folder.glob(".llm4ms-*")), "temporary output left behind"


def mgf_blocks(data):
    text = (data / "ms2_library.mgf").read_text()
    return [b.strip() + "\n" for b in text.split("END IONS") if b.strip()]


def with_peak_line(block, transform):
    """Apply ``transform`` to the first peak line of an MGF block."""
    lines = block.splitlines()
    first = next(i for i, line in enumerate(lines) if line[:1].isdigit())
    lines[first] = transform(lines[first])
    return "\n".join(lines) + "\n"


def write_mgf(path, blocks):
    path.write_text("".join(b + "END IONS\n\n" for b in blocks))


def test_missing_file(cli, tmp_path):
    fails(cli("textualize", "-q", tmp_path / "nope.mgf", "-o", tmp_path / "out.parquet"), 3, "nope.mgf: no such file")
    nothing_written(tmp_path, "out.parquet")


def test_binary_garbage(cli, tmp_path):
    path = tmp_path / "garbage.mgf"
    path.write_bytes(bytes(range(256)) * 8)
    fails(cli("textualize", "-q", path, "-o", tmp_path / "out.parquet"), 3,
          "garbage.mgf: spectrum 1, line 2: not a text file (NUL bytes)")  # line 1, bytes 0-10, is valid UTF-8
    nothing_written(tmp_path, "out.parquet")


@pytest.mark.parametrize("name", ["empty.mgf", "empty.msp", "empty.mzML"])
def test_empty_file(cli, tmp_path, name):
    (tmp_path / name).write_text("")
    fails(cli("textualize", "-q", tmp_path / name, "-o", tmp_path / "out.parquet"), 3, name)
    nothing_written(tmp_path, "out.parquet")


def test_truncated_msp_is_not_silently_shortened(cli, data, tmp_path):
    text = (data / "ei_library.msp").read_text()
    cut = text.index("DB#:", text.index("DB#:") + 1) + 400  # inside the second record's peak list
    (tmp_path / "cut.msp").write_text(text[:cut])
    fails(cli("textualize", "-q", tmp_path / "cut.msp", "-o", tmp_path / "out.parquet"), 3,
          "cut.msp: spectrum 2: incomplete record")
    nothing_written(tmp_path, "out.parquet")


def test_truncated_mgf(cli, data, tmp_path):
    text = (data / "ms2_library.mgf").read_text()
    (tmp_path / "cut.mgf").write_text(text[: text.index("END IONS", 2000) - 30])
    fails(cli("textualize", "-q", tmp_path / "cut.mgf", "-o", tmp_path / "out.parquet"), 3, "cut.mgf: spectrum",
          "is the file truncated?")
    nothing_written(tmp_path, "out.parquet")


def test_truncated_mzml(cli, data, tmp_path):
    raw = (data / "ms2_queries.mzML").read_bytes()
    (tmp_path / "cut.mzML").write_bytes(raw[: len(raw) // 2])
    fails(cli("textualize", "-q", tmp_path / "cut.mzML", "-o", tmp_path / "out.parquet"), 3, "cut.mzML")
    nothing_written(tmp_path, "out.parquet")


def test_non_numeric_mz(cli, data, tmp_path):
    blocks = mgf_blocks(data)[:3]
    blocks[1] = with_peak_line(blocks[1], lambda line: "abc " + line.split()[1])
    write_mgf(tmp_path / "bad.mgf", blocks)
    fails(cli("textualize", "-q", tmp_path / "bad.mgf", "-o", tmp_path / "out.parquet"), 3,
          "bad.mgf: spectrum 2", "abc")
    nothing_written(tmp_path, "out.parquet")


@pytest.mark.parametrize("transform, reason", [
    (lambda line: line.split()[0] + " nan", "NaN or infinite intensity"),
    (lambda line: line.split()[0] + " -5", "negative intensity"),
    (lambda line: "", "no peaks"),  # with its only kept line removed below
])
def test_bad_spectra_are_listed_and_the_rest_written(cli, data, tmp_path, transform, reason):
    blocks = mgf_blocks(data)[:3]
    if reason == "no peaks":
        blocks[1] = "\n".join(line for line in blocks[1].splitlines() if not line[:1].isdigit()) + "\n"
    else:
        blocks[1] = with_peak_line(blocks[1], transform)
    write_mgf(tmp_path / "some_bad.mgf", blocks)
    result = cli("textualize", "-q", tmp_path / "some_bad.mgf", "-o", tmp_path / "out.parquet",
                 "--rejected", tmp_path / "rejected.tsv")
    assert result.exit_code == 0
    assert "wrote 2 spectra" in result.stderr and "1 rejected" in result.stderr
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 2
    provenance, *rejected = (tmp_path / "rejected.tsv").read_text().splitlines()
    assert json.loads(provenance.removeprefix("# llm4ms "))["format"] == "llm4ms.rejected"
    assert json.loads(provenance.removeprefix("# llm4ms "))["history"][0]["inputs"] == ["some_bad.mgf"]
    assert rejected[0] == "source_file\tposition\tid\treason"
    assert len(rejected) == 2 and "\t2\tMSBNK-" in rejected[1] and reason in rejected[1]


def test_rejected_spectra_go_to_stderr_without_a_rejected_file(cli, data, tmp_path):
    blocks = mgf_blocks(data)[:2]
    write_mgf(tmp_path / "dup.mgf", [blocks[0], blocks[1], blocks[0]])
    result = cli("textualize", "-q", tmp_path / "dup.mgf", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0
    assert "dup.mgf: spectrum 3 (MSBNK-" in result.stderr and "duplicate id (first at" in result.stderr


def test_an_error_naming_an_odd_file_name_is_one_printable_line(cli, tmp_path):
    name = "run\n\x1b[2J.mgf"  # a newline and a terminal escape, both legal in a POSIX file name
    (tmp_path / name).write_text("")
    line = fails(cli("textualize", "-q", tmp_path / name, "-o", tmp_path / "out.parquet"), 3,
                 "run [2J.mgf: no spectra found")
    assert line.isprintable()


def test_a_warning_quoting_an_odd_id_is_one_printable_line(cli, data, tmp_path):
    blocks = mgf_blocks(data)[:2]
    odd = blocks[0].replace("SPECTRUM_ID=", "SPECTRUM_ID=\x1b]0;pwned\x07", 1)
    write_mgf(tmp_path / "dup.mgf", [odd, blocks[1], odd])
    result = cli("textualize", "-q", tmp_path / "dup.mgf", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert any("duplicate id" in line for line in lines), lines
    assert all(line.startswith("llm4ms textualize: ") and line.isprintable() for line in lines), lines


def test_every_spectrum_bad_is_an_error(cli, data, tmp_path):
    blocks = [with_peak_line(b, lambda line: line.split()[0] + " -1") for b in mgf_blocks(data)[:1]]
    write_mgf(tmp_path / "all_bad.mgf", blocks)
    fails(cli("textualize", "-q", tmp_path / "all_bad.mgf", "-o", tmp_path / "out.parquet"), 3,
          "all_bad.mgf", "no spectrum could be textualized", "negative intensity")
    nothing_written(tmp_path, "out.parquet")


def test_msms_template_needs_a_precursor(cli, data, tmp_path):
    result = cli("textualize", "-q", data / "ei_queries.msp", "-o", tmp_path / "out.parquet", "--template", "msms")
    fails(result, 3, "no precursor m/z")


def test_parquet_from_another_tool_is_refused(cli, tmp_path):
    pq.write_table(pa.table({"id": ["a"], "text": ["x"]}), tmp_path / "other.parquet")
    # The input is checked before any model is loaded: the unknown model name never comes into play.
    fails(cli("embed", "-q", tmp_path / "other.parquet", "-o", tmp_path / "out.parquet", "--model", "nope"), 4,
          "other.parquet", "no llm4ms provenance")
    nothing_written(tmp_path, "out.parquet")
    fails(cli("build-index", tmp_path / "other.parquet", "-o", tmp_path / "x.index"), 4,
          "other.parquet", "no llm4ms provenance")
    nothing_written(tmp_path, "x.index")


def test_a_spectra_table_without_rows_is_not_embedded_with_a_guessed_model(cli, data, tmp_path):
    # filtered to nothing by hand: no template to choose the adapter by (it was the bare backbone, and search
    # then failed on a model mismatch); refused before the model loads
    assert cli("textualize", "-q", data / "ei_queries.msp", "-o", tmp_path / "q.parquet").exit_code == 0
    pq.write_table(pq.read_table(tmp_path / "q.parquet").slice(0, 0), tmp_path / "none.parquet")
    fails(cli("embed", "-q", tmp_path / "none.parquet", "-o", tmp_path / "out.parquet", "--model", "nope"), 3,
          "none.parquet: no spectra to embed")
    nothing_written(tmp_path, "out.parquet")


def test_spectra_file_given_where_parquet_is_needed(cli, data, tmp_path):
    fails(cli("build-index", data / "ms2_queries.mgf", "-o", tmp_path / "x.index"), 3,
          "ms2_queries.mgf: not a Parquet file")
    nothing_written(tmp_path, "x.index")


def test_spectra_table_is_not_an_embeddings_table(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    fails(cli("build-index", tmp_path / "q.parquet", "-o", tmp_path / "x.index"), 4,
          "q.parquet: is an llm4ms.spectra table")


def test_not_an_index(cli, data, tmp_path, tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "q.emb.parquet", "--model", tiny_model)
    fails(cli("search", "-q", tmp_path / "q.emb.parquet", tmp_path / "q.parquet", "-o", tmp_path / "hits.tsv"), 3,
          "q.parquet: not an llm4ms index file")
    nothing_written(tmp_path, "hits.tsv")


def test_index_from_another_model_is_refused(cli, data, tmp_path, tiny_model, other_tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "a.parquet", "--model", tiny_model)
    cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "b.parquet", "--model", other_tiny_model)
    cli("build-index", tmp_path / "b.parquet", "-o", tmp_path / "b.index")
    line = fails(cli("search", "-q", tmp_path / "a.parquet", tmp_path / "b.index", "-o", tmp_path / "hits.tsv"), 4,
                 "a.parquet was embedded with", "b.index with", "E_INCOMPATIBLE")
    assert tiny_model.name in line and other_tiny_model.name in line
    nothing_written(tmp_path, "hits.tsv")


def test_other_textualization_is_refused(cli, data, tmp_path, tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    cli("textualize", "-q", data / "ms2_library.mgf", "-o", tmp_path / "l.parquet", "--top-n", "10")
    for name in ("q", "l"):
        cli("embed", "-q", tmp_path / f"{name}.parquet", "-o", tmp_path / f"{name}.emb.parquet", "--model", tiny_model)
    cli("build-index", tmp_path / "l.emb.parquet", "-o", tmp_path / "l.index")
    line = fails(cli("search", "-q", tmp_path / "q.emb.parquet", tmp_path / "l.index", "-o", tmp_path / "hits.tsv"),
                 4, "was textualized with", '"top_n": 10')
    assert '"msms"' in line and '"ei"' not in line  # only the settings of the tables' own template, msms
    # --top-n 20 is msms's own default: the queries' msms texts are the library's, only ei's setting moved
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q20.parquet", "--top-n", "20")
    texts = [pq.read_table(tmp_path / f"{name}.parquet").column("text") for name in ("q20", "q")]
    assert texts[0] == texts[1]
    cli("embed", "-q", tmp_path / "q20.parquet", "-o", tmp_path / "q20.emb.parquet", "--model", tiny_model)
    cli("textualize", "-q", data / "ms2_library.mgf", "-o", tmp_path / "l0.parquet")
    cli("embed", "-q", tmp_path / "l0.parquet", "-o", tmp_path / "l0.emb.parquet", "--model", tiny_model)
    cli("build-index", tmp_path / "l0.emb.parquet", "-o", tmp_path / "l0.index")
    result = cli("search", "-q", tmp_path / "q20.emb.parquet", tmp_path / "l0.index", "-o", tmp_path / "hits.tsv")
    assert result.exit_code == 0, result.stderr


def test_score_needs_an_inchikey_for_every_query(cli, data, tmp_path):
    text = (data / "ms2_queries.mgf").read_text()
    first = text.index("INCHIKEY=")
    text = text[:first] + text[text.index("\n", first) + 1:]
    text = text.replace("INCHI=", "X_INCHI=", 1).replace("SMILES=", "X_SMILES=", 1)  # nothing to derive it from
    (tmp_path / "q.mgf").write_text(text)
    cli("textualize", "-q", tmp_path / "q.mgf", "-o", tmp_path / "q.parquet")
    (tmp_path / "hits.tsv").write_text("query_id\trank\tscore\tlibrary_id\tinchikey\n")
    line = fails(cli("score", tmp_path / "hits.tsv", "--truth", tmp_path / "q.parquet", "--summary",
                     tmp_path / "s.json"), 3, "q.parquet: spectrum MSBNK-", "no valid InChIKey")
    assert "--skip-unannotated" in line  # a hint that can be followed
    nothing_written(tmp_path, "s.json")
    # the hits name the unannotated query too: it is left out with the others counted, not "not in" the truth
    first = pq.read_table(tmp_path / "q.parquet", columns=["id"]).column("id").to_pylist()
    (tmp_path / "hits.tsv").write_text("query_id\trank\tscore\tlibrary_id\tinchikey\n"
                                       + "".join(f"{q}\t\t\t\t\n" for q in first))
    result = cli("score", tmp_path / "hits.tsv", "--truth", tmp_path / "q.parquet", "--summary", "-",
                 "--skip-unannotated")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["n_unannotated"] == 1 and summary["n_queries"] == len(first) - 1
    assert f"warning: 1 queries without a valid InChIKey left out of the recall (first: {first[0]}" in result.stderr


def test_score_refuses_hits_of_other_queries(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    (tmp_path / "hits.tsv").write_text("query_id\trank\tscore\tlibrary_id\tinchikey\nsomeone-else\t1\t0.9\tx\t\n")
    fails(cli("score", tmp_path / "hits.tsv", "--truth", tmp_path / "q.parquet"), 3, "someone-else", "is not in")


def test_output_folder_missing(cli, data, tmp_path):
    fails(cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "no" / "out.parquet"), 3,
          "output folder")


def test_unknown_model(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    fails(cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "out.parquet", "--model", "no-such-model"), 5,
          "no-such-model: not a model alias")
    nothing_written(tmp_path, "out.parquet")


def test_hits_from_another_llm4ms_format_version(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    (tmp_path / "hits.tsv").write_text('# llm4ms {"format": "llm4ms.hits", "format_version": 99, '
                                       '"llm4ms_version": "9.0"}\nquery_id\trank\tscore\tlibrary_id\tinchikey\n')
    fails(cli("score", tmp_path / "hits.tsv", "--truth", tmp_path / "q.parquet"), 4,
          "hits.tsv: llm4ms table format version 99", "written by llm4ms 9.0")


def _with_field(block, key, value):
    """An MGF block with ``key`` set to ``value`` (None: the line removed)."""
    lines = [line for line in block.splitlines() if not line.startswith(key + "=")]
    if value is not None:
        lines.insert(1, f"{key}={value}")
    return "\n".join(lines) + "\n"


def test_precursor_of_zero_is_rejected_not_taken_for_ei(cli, data, tmp_path):
    blocks = mgf_blocks(data)[:3]
    blocks[1] = _with_field(blocks[1], "PEPMASS", "0")
    write_mgf(tmp_path / "p0.mgf", blocks)
    result = cli("textualize", "-q", tmp_path / "p0.mgf", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0
    assert "p0.mgf: spectrum 2 (MSBNK-" in result.stderr and "precursor m/z 0.0 is not a positive mass" in result.stderr
    assert pq.read_table(tmp_path / "out.parquet").column("template").to_pylist() == ["msms", "msms"]


def test_unreadable_structure_is_reported_and_the_spectrum_kept(cli, data, tmp_path):
    blocks = mgf_blocks(data)[:2]
    for key, value in (("SMILES", "C1CC(notasmiles"), ("INCHI", "InChI=1S/garbage"), ("INCHIKEY", "NOT-AN-INCHIKEY")):
        blocks[1] = _with_field(blocks[1], key, value)
    write_mgf(tmp_path / "s.mgf", blocks)
    result = cli("textualize", "-q", tmp_path / "s.mgf", "-o", tmp_path / "q.parquet")
    assert result.exit_code == 0 and "wrote 2 spectra" in result.stderr
    assert "s.mgf: spectrum 2 (MSBNK-" in result.stderr and "warning: kept without a structure" in result.stderr
    assert "RDKit cannot read SMILES 'C1CC(notasmiles'" in result.stderr
    assert pq.read_table(tmp_path / "q.parquet").column("inchikey").to_pylist()[1] is None
    # score cannot judge a query without a structure, and says which
    (tmp_path / "hits.tsv").write_text("query_id\trank\tscore\tlibrary_id\tinchikey\n")
    fails(cli("score", tmp_path / "hits.tsv", "--truth", tmp_path / "q.parquet"), 3, "no valid InChIKey")


def test_an_error_line_starts_a_line_of_its_own_after_a_progress_bar(cli, data, tmp_path):
    """Without -q the bar is on stderr too; it is closed before the error, so log parsers (and eyes) find
    `llm4ms CMD: error` at the start of a line."""
    result = cli("textualize", data / "ei_queries.msp", "-o", tmp_path / "out.parquet", "--template", "msms")
    assert result.exit_code == 3 and "spectra" in result.stderr  # the bar was drawn
    assert any(line.startswith("llm4ms textualize: error [E_INPUT]") for line in result.stderr.split("\n"))


def test_an_output_that_is_an_input_is_refused_before_any_work(cli, data, tmp_path):
    copy = tmp_path / "q.mgf"
    copy.write_bytes((data / "ms2_queries.mgf").read_bytes())
    fails(cli("textualize", "-q", copy, "-o", copy), 3, "q.mgf: is also an input; -o would overwrite it")
    assert copy.read_bytes() == (data / "ms2_queries.mgf").read_bytes()
    assert cli("textualize", "-q", copy, "-o", tmp_path / "q.parquet").exit_code == 0
    fails(cli("score", tmp_path / "q.parquet", "--truth", tmp_path / "q.parquet", "-o", tmp_path / "q.parquet"), 3,
          "is also an input")
    nothing_written(tmp_path, "no-such-output")


@pytest.mark.parametrize("options, fragment", [
    (["--summary", "{tmp}"], "is a folder; --summary needs a file name"),
    (["--plot", "{tmp}/nodir/x.png"], "output folder"),
    (["--summary", "-", "--plot", "-"], "-o and --summary and --plot would each write to stdout"),
    (["--summary", "{tmp}/per_query.tsv"], "given to both -o and --summary"),
])
def test_every_output_of_a_step_is_checked_before_the_first_is_written(cli, data, tmp_path, options, fragment):
    # score writes three files; one it cannot write must not leave the others behind
    cli("textualize", "-q", data / "ei_queries.msp", "-o", tmp_path / "q.parquet")
    hits = tmp_path / "hits.tsv"
    hits.write_text("query_id\trank\tscore\tlibrary_id\tname\tinchikey\n")
    output = "-" if "-" in options else tmp_path / "per_query.tsv"
    result = cli("score", hits, "--truth", tmp_path / "q.parquet", "-o", output,
                 *[o.replace("{tmp}", str(tmp_path)) for o in options])
    fails(result, 3, fragment)
    nothing_written(tmp_path, "per_query.tsv")


def test_an_output_folder_in_place_of_a_file_is_refused_before_embedding(cli, data, tmp_path, tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    (tmp_path / "out").mkdir()
    fails(cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "out", "--model", tiny_model), 3,
          "out: is a folder; -o needs a file name")
    assert not list(tmp_path.glob(".*resume*")), "a resume folder was started"


def test_train_cannot_write_an_adapter_to_stdout(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    fails(cli("train", tmp_path / "q.parquet", "-o", "-", "--stage", "mntp", "--steps", "1"), 3,
          "-o -: train writes an adapter folder")
    assert not (tmp_path.parent / "-").exists() and not (tmp_path / "-").exists()


def test_empty_stdin_and_stdin_twice_say_so(tmp_path):
    from click.testing import CliRunner

    from llm4ms.cli.main import main

    runner = CliRunner()
    empty = runner.invoke(main, ["textualize", "-q", "-", "-o", str(tmp_path / "e.parquet")], input=b"")
    fails(empty, 3, "<stdin>: empty input")
    twice = runner.invoke(main, ["textualize", "-q", "-", "-", "-o", str(tmp_path / "e.parquet")], input=b"x")
    fails(twice, 3, "stdin can be read only once")
    nothing_written(tmp_path, "e.parquet")


@pytest.mark.parametrize("name", ["ms2_queries.mgf", "ei_queries.msp"])
def test_a_byte_order_mark_loses_no_spectrum_and_no_name(cli, data, tmp_path, name):
    # Windows editors start UTF-8 files with one; the MGF reader skipped the first spectrum without a word
    marked = tmp_path / name
    marked.write_bytes(b"\xef\xbb\xbf" + (data / name).read_bytes())
    for source, out in ((data / name, "plain.parquet"), (marked, "marked.parquet")):
        result = cli("textualize", "-q", source, "-o", tmp_path / out)
        assert result.exit_code == 0 and "wrote 12 spectra" in result.stderr and "0 rejected" in result.stderr
    columns = ["id", "name", "text", "inchikey"]
    assert pq.read_table(tmp_path / "marked.parquet", columns=columns).to_pylist() == \
        pq.read_table(tmp_path / "plain.parquet", columns=columns).to_pylist()


def test_json_records_matchms_cannot_use_are_reported(cli, data, tmp_path):
    import json

    from matchms.exporting import save_as_json
    from matchms.importing import load_from_mgf

    save_as_json(list(load_from_mgf(str(data / "ms2_queries.mgf")))[:3], str(tmp_path / "q.json"))
    records = json.loads((tmp_path / "q.json").read_text())
    del records[1]["peaks_json"]
    (tmp_path / "q.json").write_text(json.dumps(records + [{"foo": 1}]))
    result = cli("textualize", "-q", tmp_path / "q.json", "-o", tmp_path / "q.parquet")
    assert result.exit_code == 0 and "wrote 2 spectra (msms: 2)" in result.stderr and "2 rejected" in result.stderr
    assert "q.json: spectrum 2: rejected: matchms could not build a spectrum" in result.stderr
    assert "q.json: spectrum 4: rejected: matchms could not build a spectrum" in result.stderr


def test_an_ms2_spectrum_without_precursor_is_rejected_not_written_as_ei(cli, data, tmp_path):
    blocks = mgf_blocks(data)[:3]
    blocks[1] = "\n".join(line for line in blocks[1].splitlines() if not line.startswith("PEPMASS=")) + "\n"
    write_mgf(tmp_path / "nopep.mgf", blocks)
    result = cli("textualize", "-q", tmp_path / "nopep.mgf", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0 and "wrote 2 spectra (msms: 2)" in result.stderr
    assert "nopep.mgf: spectrum 2 (MSBNK-" in result.stderr and "MS2 spectrum without a precursor m/z" in result.stderr


def test_gzip_input_is_named_as_such(cli, data, tmp_path):
    import gzip

    (tmp_path / "q.mgf.gz").write_bytes(gzip.compress((data / "ms2_queries.mgf").read_bytes()))
    for extra in ([], ["--format", "mgf"]):
        fails(cli("textualize", "-q", tmp_path / "q.mgf.gz", "-o", tmp_path / "out.parquet", *extra), 3,
              "q.mgf.gz: gzip-compressed", "q.mgf.gz | llm4ms textualize -")
    nothing_written(tmp_path, "out.parquet")


def test_an_llm4ms_table_that_lost_a_column_is_named_as_such(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    table = pq.read_table(tmp_path / "q.parquet")
    pq.write_table(table.drop_columns(["text"]), tmp_path / "cut.parquet")  # the provenance metadata stays
    fails(cli("embed", "-q", tmp_path / "cut.parquet", "-o", tmp_path / "out.parquet"), 3,
          "cut.parquet: an llm4ms.spectra table without the column(s) text")
    nothing_written(tmp_path, "out.parquet")


def test_score_warns_when_its_figures_cannot_mean_what_they_say(cli, ei):
    assert cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.tsv",
               "-k", "3").exit_code == 0
    result = cli("score", ei / "hits.tsv", "--truth", ei / "queries.parquet", "-k", "1", "-k", "5")
    assert result.exit_code == 0
    assert "hits.tsv was searched with k 3; Recall@5 cannot count a compound beyond rank 3" in result.stderr
    assert "no row in" not in result.stderr
    lines = (ei / "hits.tsv").read_text().splitlines(keepends=True)
    first = lines[2].split("\t")[0]
    (ei / "part.tsv").write_text("".join(lines[:2] + [line for line in lines[2:] if line.startswith(first + "\t")]))
    result = cli("score", ei / "part.tsv", "--truth", ei / "queries.parquet", "-k", "1")
    assert result.exit_code == 0
    assert "warning: 11 of the 12 queries have no row in " in result.stderr
    assert "part.tsv; they count as not found" in result.stderr


@pytest.mark.parametrize("change", [3, -3])
def test_a_wrong_num_peaks_sets_aside_its_record_only(cli, data, tmp_path, change):
    # matchms ends an MSP record after Num Peaks peaks, so one wrong count ran into the next record and
    # failed the whole file with a message about another spectrum
    import re

    records = re.split(r"(?=^Name:)", (data / "ei_queries.msp").read_text(), flags=re.M)[1:]
    declared = int(re.search(r"^Num Peaks: (\d+)", records[4], re.M).group(1))
    records[4] = records[4].replace(f"Num Peaks: {declared}", f"Num Peaks: {declared + change}")
    (tmp_path / "count.msp").write_text("".join(records))
    result = cli("textualize", "-q", tmp_path / "count.msp", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.stderr
    assert f"count.msp: spectrum 5: rejected: declares {declared + change} peaks (Num Peaks) but has {declared}" \
        in result.stderr
    assert "wrote 11 spectra" in result.stderr and "1 rejected" in result.stderr
    written = pq.read_table(tmp_path / "out.parquet", columns=["id"]).column("id").to_pylist()
    cli("textualize", "-q", data / "ei_queries.msp", "-o", tmp_path / "all.parquet")
    every = pq.read_table(tmp_path / "all.parquet", columns=["id"]).column("id").to_pylist()
    assert written == every[:4] + every[5:]


@pytest.mark.parametrize("last", [False, True])
def test_a_negative_peak_in_an_msp_record_sets_it_aside(cli, data, tmp_path, last):
    # matchms reads "50 -1" as a peak of intensity 1 (the MGF reader keeps the sign and cleaning rejects the
    # spectrum), so an MSP record with a minus sign in its peaks must be rejected, not read as positive,
    # also when it is the file's last record; an exponent's sign ("1.5e-2") is no such minus
    import re

    records = re.split(r"(?=^Name:)", (data / "ei_queries.msp").read_text(), flags=re.M)[1:]
    where = len(records) - 1 if last else 4

    def first_peak(record, rewrite):  # the record's first peak line, its intensity rewritten
        return re.sub(r"^(Num Peaks: \d+\n\S+\s+)(\S+)$", lambda m: m.group(1) + rewrite(m.group(2)), record,
                      count=1, flags=re.M)

    intensity = re.search(r"^Num Peaks: \d+\n\S+\s+(\S+)$", records[where], re.M).group(1)
    records[where] = first_peak(records[where], lambda value: "-" + value)
    records[0] = first_peak(records[0], lambda value: f"{float(value):.3e}")
    assert "e+" in records[0] or "e-" in records[0]
    (tmp_path / "neg.msp").write_text("".join(records))
    result = cli("textualize", "-q", tmp_path / "neg.msp", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.stderr
    assert f"neg.msp: spectrum {where + 1}: rejected: negative number '-{intensity}' in its peak lines" \
        in result.stderr
    assert f"wrote {len(records) - 1} spectra" in result.stderr and "1 rejected" in result.stderr


@pytest.mark.parametrize("where", [0, 4, 11])
def test_an_msp_record_without_peaks_is_rejected_not_the_file(cli, data, tmp_path, where):
    # matchms skips a "Num Peaks: 0" record, which then read as a file cut short and failed it all,
    # naming the wrong spectrum; the MGF reader rejects such a spectrum as "no peaks"
    import re

    records = re.split(r"(?=^Name:)", (data / "ei_queries.msp").read_text(), flags=re.M)[1:]
    records[where] = re.sub(r"^Num Peaks: \d+\n.*", "Num Peaks: 0\n\n", records[where], flags=re.M | re.S)
    (tmp_path / "empty.msp").write_text("".join(records))
    result = cli("textualize", "-q", tmp_path / "empty.msp", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.stderr
    assert f"empty.msp: spectrum {where + 1}: rejected: no peaks" in result.stderr
    assert f"wrote {len(records) - 1} spectra" in result.stderr


def test_an_index_or_a_cut_table_where_a_table_is_needed_is_named(cli, ei, tmp_path):
    fails(cli("build-index", ei / "library.index", "-o", tmp_path / "x.index"), 3,
          "library.index: an llm4ms index (or another zip file), not a table")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes((ei / "queries.emb.parquet").read_bytes()[:5000])
    fails(cli("build-index", cut, "-o", tmp_path / "x.index"), 3, "cut.parquet: a damaged or truncated Parquet file")
    nothing_written(tmp_path, "x.index")


@pytest.mark.parametrize("command, table, arguments", [
    ("textualize", "queries.parquet", []),
    ("embed", "queries.parquet", ["--model", "TINY"]),
    ("train", "library.parquet", ["--model", "TINY", "--steps", "1"]),
    ("build-index", "library.emb.parquet", []),
    ("search", "queries.emb.parquet", ["INDEX"]),
    ("score", "hits.parquet", ["--truth", "queries.parquet"]),
    ("score", "queries.parquet", ["--truth", "DAMAGED"]),
])
def test_a_table_damaged_inside_its_data_is_named(cli, ei, tiny_model, tmp_path, command, table, arguments):
    # the footer is whole, so the provenance reads; pyarrow's error on the pages named no file (E_INTERNAL)
    assert cli("search", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.parquet").exit_code == 0
    raw = (ei / table).read_bytes()
    footer = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(raw[:4] + b"\xff" * (footer - 4) + raw[footer:])
    given = {"TINY": tiny_model, "INDEX": ei / "library.index", "DAMAGED": damaged}
    first = ei / "hits.parquet" if "DAMAGED" in arguments else damaged
    output = tmp_path / ("out.index" if command == "build-index" else "out" if command == "train" else "out.parquet")
    quiet = [] if command == "score" else ["-q"]  # score shows no bar
    fails(cli(command, *quiet, first, *[given.get(a, ei / a if a.endswith(".parquet") else a) for a in arguments],
              "-o", output), 3, "damaged.parquet: a damaged Parquet file: its data cannot be read")
    nothing_written(tmp_path, output.name)
