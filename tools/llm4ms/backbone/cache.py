"""The model cache: one prepared copy per key, made under a lock and published by an atomic rename,
so two jobs that start at once on a fresh node both succeed and leave one good copy."""

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ModelError

COMPLETE = ".llm4ms-complete"


def cache_root() -> Path:
    root = os.environ.get("LLM4MS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "llm4ms"


@contextlib.contextmanager
def _locked(parent: Path, key: str):
    try:
        parent.mkdir(parents=True, exist_ok=True)
        handle = open(parent / f".{key}.lock", "a+")
    except OSError as exc:
        raise ModelError(f"{parent}: cannot write the model cache ({exc.strerror or exc}), where the backbone is "
                         "converted once", hint="set LLM4MS_CACHE to a writable folder (about 520 MB per backbone), "
                                                "or fill it once where it is writable") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepared(key: str, build) -> Path:
    """Return the cache folder for ``key``, calling ``build(folder)`` once if it is not there yet."""
    parent = cache_root() / "models"
    final = parent / key
    if (final / COMPLETE).exists():
        _remove_leftovers(parent, key)
        return final
    with _locked(parent, key):
        if (final / COMPLETE).exists():
            return final
        if final.exists():  # a copy left by a run killed before the rename existed in older layouts
            shutil.rmtree(final)
        _remove_leftovers(parent, key)
        work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=parent))
        try:
            build(work)
            (work / COMPLETE).write_text(key + "\n")
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return final


def _remove_leftovers(parent: Path, key: str) -> None:
    """Work folders of builds killed outright (SIGKILL, out of memory, a wall-time limit), which no handler
    could remove: up to 520 MB each. Only a builder holding the lock has one, and none builds once the
    copy is complete, so any found under the lock, or beside a complete copy, is a dead run's."""
    for left in parent.glob(f".{key}.*"):
        if left.is_dir():
            shutil.rmtree(left, ignore_errors=True)


def file_digest(paths, chunk: int = 1 << 22) -> str:
    """sha256 over the contents of ``paths`` in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()
