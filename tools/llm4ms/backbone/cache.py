"""The model cache: one prepared copy per key, made under a lock and published by an atomic rename,
so two jobs that start at once on a fresh node both succeed and leave one good copy."""

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

COMPLETE = ".llm4ms-complete"


def cache_root() -> Path:
    root = os.environ.get("LLM4MS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "llm4ms"


@contextlib.contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a+") as handle:
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
        return final
    parent.mkdir(parents=True, exist_ok=True)
    with _locked(parent / f".{key}.lock"):
        if (final / COMPLETE).exists():
            return final
        if final.exists():  # a copy left by a run killed before the rename existed in older layouts
            shutil.rmtree(final)
        work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=parent))
        try:
            build(work)
            (work / COMPLETE).write_text(key + "\n")
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return final


def file_digest(paths, chunk: int = 1 << 22) -> str:
    """sha256 over the contents of ``paths`` in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()
