"""Resumable chunked outputs: a long run (embedding a library takes hours on a CPU) keeps each finished
chunk in a folder beside its output, so the same command started again after a kill, a scheduler's
time limit or a crash carries on from the last finished chunk instead of from the start.

Layout: ``.<output name>.llm4ms-resume/`` holds ``state.json`` (what the chunks were made from) and
``chunk-000000.parquet``, … Each chunk file is written to a temporary name, synced and renamed, so a
chunk is either whole or absent. A state that does not match this run (another input, model or setting) is
discarded. On success the output is assembled from the chunks in order and the folder removed; the
output is then byte-identical to one from an uninterrupted run.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError
from .streams import STDIO, atomic_output

STATE = "state.json"


def resume_folder(output: str) -> Path | None:
    """Where the chunks of ``output`` are kept; None for stdout, which cannot be resumed."""
    if output == STDIO:
        return None
    target = Path(output)
    folder = f".{target.name}.llm4ms-resume"
    if len(os.fsencode(folder)) > 255:  # NAME_MAX: an output name near it leaves no room for ours
        folder = f".{hashlib.sha256(os.fsencode(target.name)).hexdigest()[:24]}.llm4ms-resume"
    return target.with_name(folder)


class ChunkStore:
    """Chunks of one run, under an exclusive lock. ``state`` identifies the run; chunks of a different
    state are thrown away."""

    def __init__(self, folder: Path, state: dict, warn=None):
        self.folder = folder
        folder.mkdir(exist_ok=True)
        self._lock = open(folder / ".lock", "a+")  # noqa: SIM115 - held for the store's whole life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(f"{folder}: another llm4ms run is writing this output",
                             hint="wait for it, or write to another file") from None
        state_file = folder / STATE
        old = json.loads(state_file.read_text()) if state_file.exists() else None
        if old is not None and old != state:
            if warn is not None:
                warn(f"discarding the chunks in {folder}: they were made from another input or with other "
                     "settings")
            for chunk in folder.glob("chunk-*.parquet"):
                chunk.unlink()
        with atomic_output(str(state_file), ".json") as tmp:
            tmp.write_text(json.dumps(state, sort_keys=True, indent=1) + "\n")
        self.resumed = self.count()

    def count(self) -> int:
        """Finished chunks in the folder."""
        return len(list(self.folder.glob("chunk-*.parquet")))

    def _path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:06d}.parquet"

    def has(self, index: int) -> bool:
        return self._path(index).exists()

    def put(self, index: int, table: pa.Table) -> None:
        with atomic_output(str(self._path(index)), ".parquet") as tmp:
            pq.write_table(table, tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())  # on disk before the rename says the chunk is done

    def get(self, index: int) -> pa.Table:
        return pq.read_table(self._path(index))

    def close(self, remove: bool) -> None:
        if self._lock is not None:
            if remove:
                shutil.rmtree(self.folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

