"""An interrupted embed run carries on from its last finished chunk and ends exactly as an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from llm4ms.resume import resume_folder
from llm4ms.steps import embed as embed_step


def _ids(path):
    return pq.read_table(path, columns=["id"]).column("id").to_pylist()


@pytest.fixture
def library(cli, data, tmp_path):
    cli("textualize", "-q", data / "ms2_library.mgf", "-o", tmp_path / "lib.parquet")
    return tmp_path / "lib.parquet"


def _running_until_chunks(command, folder, chunks):
    """``command`` started, once it has finished ``chunks`` chunks in ``folder``."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list(folder.glob("chunk-*.parquet"))) < chunks:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no chunk written in 300 s"
        time.sleep(0.05)
    return process


def test_embed_killed_with_sigkill_resumes_to_the_same_bytes(cli, library, tmp_path):
    """A real process with the default backbone, killed (SIGKILL: nothing runs on the way out) once a few
    chunks are done; the same command again finishes the rest, each spectrum once, byte for byte what
    an uninterrupted run writes."""
    out = tmp_path / "lib.emb.parquet"
    command = [sys.executable, "-m", "llm4ms", "embed", str(library), "-o", str(out), "--chunk-rows", "4", "-q"]
    folder = resume_folder(str(out))
    process = _running_until_chunks(command, folder, 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    kept = len(list(folder.glob("chunk-*.parquet")))
    assert 3 <= kept < 12 and not out.exists()  # 48 spectra = 12 chunks: killed in the middle, no output

    again = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {kept} chunks of 4 spectra already embedded" in again.stderr
    assert f"embedded 48 spectra ({4 * kept} from resumed chunks)" in again.stderr
    assert not folder.exists()
    assert _ids(out) == _ids(library)  # every spectrum, once, in input order

    whole = tmp_path / "whole" / "lib.emb.parquet"
    whole.parent.mkdir()
    result = cli("embed", "-q", library, "-o", whole, "--chunk-rows", "4")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == whole.read_bytes()


def test_embed_stopped_by_sigterm_cleans_up_and_keeps_its_chunks(library, tmp_path):
    """SIGTERM is how schedulers stop a job (scancel, Nextflow, Galaxy, timeout): the command says so, exits
    128 + 15, leaves no temporary output, and keeps its finished chunks for the same command to resume."""
    out = tmp_path / "lib.emb.parquet"
    command = [sys.executable, "-m", "llm4ms", "embed", str(library), "-o", str(out), "--chunk-rows", "4", "-q"]
    folder = resume_folder(str(out))
    process = _running_until_chunks(command, folder, 2)
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip().splitlines()[-1] == "llm4ms embed: stopped by SIGTERM; no output was written"
    assert not out.exists() and not list(tmp_path.glob(".llm4ms-*")), "temporary output left behind"
    assert len(list(folder.glob("chunk-*.parquet"))) >= 2


def test_embed_under_nohup_ignores_sighup(library, tmp_path):
    """nohup sets SIGHUP to be ignored, so that a job outlives its terminal; the command must leave it so."""
    out = tmp_path / "lib.emb.parquet"
    command = [sys.executable, "-m", "llm4ms", "embed", str(library), "-o", str(out), "--chunk-rows", "4", "-q"]
    folder = resume_folder(str(out))
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.monotonic() + 300
    while len(list(folder.glob("chunk-*.parquet"))) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    process.send_signal(signal.SIGHUP)
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 0, stderr
    assert _ids(out) == _ids(library)


def _interrupt_after(chunks, monkeypatch):
    """Make the embedding of chunk number ``chunks`` (0-based) raise as Ctrl-C does."""
    real = embed_step._embed_chunk
    calls = []

    def failing(*args, **kwargs):
        if len(calls) == chunks:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(embed_step, "_embed_chunk", failing)


def test_interrupted_run_keeps_its_chunks_and_other_settings_discard_them(cli, library, tmp_path, tiny_model,
                                                                          monkeypatch):
    out = tmp_path / "e.parquet"
    args = ["embed", library, "-o", out, "--model", tiny_model, "--chunk-rows", "5"]
    with monkeypatch.context() as patch:
        _interrupt_after(3, patch)
        result = cli(*args)
    folder = resume_folder(str(out))
    assert result.exit_code == 130 and "3 chunks of 5 spectra are kept" in result.stderr
    assert len(list(folder.glob("chunk-*.parquet"))) == 3 and not out.exists()

    # another batch size is another run (it is in the provenance): its chunks are not mixed in
    result = cli(*args, "--batch-size", "3")
    assert result.exit_code == 0, result.stderr
    assert "discarding the chunks" in result.stderr and "resuming" not in result.stderr
    assert _ids(out) == _ids(library) and not folder.exists()


def test_a_bad_input_leaves_no_chunks(cli, data, tmp_path, tiny_model):
    """An error the same command cannot get past (here a spectrum without text) clears the chunks too."""
    import pyarrow as pa

    cli("textualize", "-q", data / "ms2_library.mgf", "-o", tmp_path / "lib.parquet")
    table = pq.read_table(tmp_path / "lib.parquet")
    texts = table.column("text").to_pylist()
    texts[30] = ""
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    pq.write_table(table, tmp_path / "holed.parquet")
    out = tmp_path / "e.parquet"
    result = cli("embed", tmp_path / "holed.parquet", "-o", out, "--model", tiny_model, "--chunk-rows", "8")
    assert result.exit_code == 3 and "spectrum 31" in result.stderr and "empty text" in result.stderr
    assert not out.exists() and not resume_folder(str(out)).exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_the_commands_chunk_default_is_the_steps():
    # The command writes the default out so that --help imports no pyarrow; the step's constant is what the
    # benchmarks read to re-embed a table in the same chunks (and so the same batches) as the command did.
    from llm4ms.cli.embed import embed_command

    option = next(p for p in embed_command.params if p.name == "chunk_rows")
    assert option.default == embed_step.CHUNK_ROWS
