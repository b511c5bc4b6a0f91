"""How jobs run the commands: pipes a reader closes early, FIFOs and process substitution, closed or full
streams, links, names that are not UTF-8. Each says what went wrong in one line or does what the shell would."""

import json
import os
import stat
import subprocess
import sys
import threading

import pyarrow.parquet as pq
import pytest

from test_bad_input import nothing_written

LLM4MS = f"{sys.executable} -m llm4ms"


def shell(command, cwd, timeout=180):
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_a_reader_that_stops_early_ends_the_command_as_a_pipe_writer(work):
    # `| head` closes the pipe; that was E_INTERNAL BrokenPipeError and exit 1, which failed pipelines
    done = shell(f"{LLM4MS} textualize -q ms2_library.mgf -o - | true; echo ${{PIPESTATUS[0]}}", work)
    assert done.stdout.strip() == "141" and done.stderr == ""


def test_a_full_disk_names_the_output(work):
    done = shell(f"{LLM4MS} textualize -q ms2_queries.mgf -o - > /dev/full", work)
    assert done.returncode == 3
    assert done.stderr.strip() == ("llm4ms textualize: error [E_INPUT]: stdout: cannot be written (No space left on "
                                   "device) (hint: free space or choose another folder)")


@pytest.mark.parametrize("closed, message", [
    ("<&-", "<stdin>: closed; nothing can be read from it"),
    (">&-", "stdout is closed; nothing can be written to it"),
])
def test_a_closed_stream_is_named(work, closed, message):
    source, output = ("-", "out.parquet") if closed == "<&-" else ("ms2_queries.mgf", "-")
    done = shell(f"{LLM4MS} textualize -q {source} -o {output} {closed}", work)
    assert done.returncode == 3 and message in done.stderr and len(done.stderr.splitlines()) == 1
    nothing_written(work, "out.parquet")


def test_a_closed_stderr_still_writes_the_output(work):
    # tqdm was given no stream and failed the command without a word
    done = shell(f"{LLM4MS} textualize ms2_queries.mgf -o out.parquet 2>&-", work)
    assert done.returncode == 0 and pq.read_metadata(work / "out.parquet").num_rows == 12


def _feed(path, data: bytes):
    """Write ``data`` into the FIFO ``path`` from a thread, as a process substitution would."""
    def write():
        with open(path, "wb") as handle:
            handle.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("name", ["ei_queries.msp", "ms2_queries.mgf", "ms2_queries.mzML"])
def test_a_fifo_input_is_read_whole(cli, work, name):
    # the readers open a file more than once: from a FIFO or <(...) the MSP reader wrote 7 of 12 spectra
    fifo = work / f"fifo-{name}"
    os.mkfifo(fifo)
    _feed(fifo, (work / name).read_bytes())
    result = cli("textualize", "-q", fifo, "-o", work / "fifo.parquet")
    assert result.exit_code == 0, result.stderr
    assert cli("textualize", "-q", work / name, "-o", work / "file.parquet").exit_code == 0
    columns = ["id", "text"]
    assert pq.read_table(work / "fifo.parquet", columns=columns).to_pylist() == \
        pq.read_table(work / "file.parquet", columns=columns).to_pylist()


def test_a_fifo_output_is_written_into_not_replaced(cli, work):
    # os.replace put a regular file in its place, and the reader waiting on the FIFO waited for ever
    fifo = work / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert cli("textualize", "-q", work / "ms2_queries.mgf", "-o", fifo).exit_code == 0
    reader.join(60)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert cli("textualize", "-q", work / "ms2_queries.mgf", "-o", work / "file.parquet").exit_code == 0
    assert received == [(work / "file.parquet").read_bytes()]


def test_a_link_output_keeps_the_link_and_replaces_what_it_points_to(cli, work):
    (work / "real.parquet").write_bytes(b"old")
    (work / "link.parquet").symlink_to("real.parquet")
    assert cli("textualize", "-q", work / "ms2_queries.mgf", "-o", work / "link.parquet").exit_code == 0
    assert (work / "link.parquet").is_symlink()
    assert pq.read_metadata(work / "real.parquet").num_rows == 12


def test_a_file_name_that_is_not_utf8_is_read_and_shown_escaped(cli, work):
    # a Latin-1 file system's name: pyarrow could not encode it, and E_INTERNAL followed
    latin = work / os.fsdecode(b"sp\xe9c.mgf")
    latin.write_bytes((work / "ms2_queries.mgf").read_bytes())
    result = cli("textualize", "-q", latin, "-o", work / os.fsdecode(b"q\xe9.parquet"))
    assert result.exit_code == 0, result.stderr
    with open(work / os.fsdecode(b"q\xe9.parquet"), "rb") as handle:  # pyarrow cannot take the name either
        table = pq.read_table(handle, columns=["source_file"])
    assert set(table.column("source_file").to_pylist()) == {"sp\\xe9c.mgf"}
    with open(work / os.fsdecode(b"q\xe9.parquet"), "rb") as handle:
        provenance = json.loads(pq.read_schema(handle).metadata[b"llm4ms"])
    assert provenance["history"][-1]["inputs"] == ["sp\\xe9c.mgf"]  # was a lone surrogate, not UTF-8
    result = cli("textualize", "-q", work / os.fsdecode(b"q\xe9.parquet"), "-o", work / "again.parquet")
    assert result.exit_code == 0, result.stderr


def test_an_output_name_near_the_limit_still_embeds(cli, work, tiny_model):
    # the resume folder beside it added 17 bytes to a name the file system allows 255 of
    assert cli("textualize", "-q", work / "ms2_queries.mgf", "-o", work / "q.parquet").exit_code == 0
    long = work / ("b" * 240 + ".parquet")
    result = cli("embed", "-q", work / "q.parquet", "-o", long, "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert pq.read_metadata(long).num_rows == 12 and not list(work.glob(".*llm4ms-resume"))


def test_the_recall_plot_carries_its_provenance(cli, ei):
    from PIL import Image

    assert cli("search", "-q", ei / "queries.emb.parquet", ei / "library.index", "-o", ei / "hits.tsv").exit_code == 0
    assert cli("score", ei / "hits.tsv", "--truth", ei / "queries.parquet", "--plot", ei / "recall.png").exit_code == 0
    with Image.open(ei / "recall.png") as image:
        provenance = json.loads(image.text["llm4ms"])
    assert provenance["format"] == "llm4ms.recall-plot" and provenance["model"]["layers"] == 2
    assert [step["step"] for step in provenance["history"]][-3:] == ["embed", "search", "score"]


def test_mzml_reads_with_warnings_as_errors(work):
    # pymzml warns on import that it has no compiled numpress decoder, and leaves its file open
    done = shell(f"{sys.executable} -W error -m llm4ms textualize -q ms2_queries.mzML -o out.parquet", work)
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr and pq.read_metadata(work / "out.parquet").num_rows == 12
