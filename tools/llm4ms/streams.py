"""Paths, stdin/stdout and atomic writes: no reader sees a half-written output, whatever fails."""

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import InputError

STDIO = "-"


def input_path(path: str, stack: contextlib.ExitStack, suffix: str = "") -> Path:
    """A readable file path for ``path``; ``-`` spools stdin to a temporary file.

    Spooling lets every reader seek (Parquet footers, mzML indexes) and keeps memory flat.
    """
    if path == STDIO:
        handle = tempfile.NamedTemporaryFile(prefix="llm4ms-stdin-", suffix=suffix, delete=False)
        stack.callback(os.unlink, handle.name)
        with handle:
            shutil.copyfileobj(sys.stdin.buffer, handle, 1 << 20)
        if os.path.getsize(handle.name) == 0:
            raise InputError("<stdin>: empty input (nothing was piped in, or the step before wrote nothing)")
        return Path(handle.name)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{path}: not readable (permissions)")
    return p


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIO else str(path)


def output_folder(path: str) -> Path | None:
    """The existing folder an output file goes into (None for stdout); checked before any long work."""
    if path == STDIO:
        return None
    directory = Path(path).parent
    if not directory.is_dir():
        raise InputError(f"{path}: output folder {directory} does not exist")
    return directory


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = ""):
    """Yield a temporary path; on success it becomes ``path`` (or is copied to stdout for ``-``).

    The temporary file lives beside the target so the final rename is atomic on one filesystem.
    """
    directory = output_folder(path)
    fd, tmp = tempfile.mkstemp(prefix=".llm4ms-", suffix=suffix + ".part", dir=directory)
    os.close(fd)
    try:
        yield Path(tmp)
        if path == STDIO:
            with open(tmp, "rb") as src:
                shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
            os.unlink(tmp)
        else:
            # mkstemp makes 0600 files; outputs get the permissions any new file would (shared cluster folders).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_paths(inputs, outputs: dict) -> None:
    """Refuse, before any work, outputs that would overwrite an input, that collide, or that cannot be
    written; ``outputs`` maps each option to its path (None: not asked for)."""
    if list(inputs).count(STDIO) > 1:
        raise InputError("- is given as more than one input; stdin can be read only once")
    given = {option: path for option, path in outputs.items() if path is not None}
    to_stdout = [option for option, path in given.items() if path == STDIO]
    if len(to_stdout) > 1:
        raise InputError(f"{' and '.join(to_stdout)} would each write to stdout (-); only one output can go there",
                         hint="give the others file names")
    claimed = {}
    for option, path in given.items():
        if path == STDIO:
            continue
        output_folder(path)
        if Path(path).is_dir():
            raise InputError(f"{path}: is a folder; {option} needs a file name")
        key = os.path.realpath(path)
        if key in claimed:
            raise InputError(f"{path}: given to both {claimed[key]} and {option}; each output needs its own file")
        claimed[key] = option
        if Path(path).exists():
            for source in inputs:
                if source != STDIO and Path(source).exists() and os.path.samefile(path, source):
                    raise InputError(f"{path}: is also an input; {option} would overwrite it",
                                     hint="choose another output name")
