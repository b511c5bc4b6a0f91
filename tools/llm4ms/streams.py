"""Paths, stdin/stdout and atomic writes: no reader sees a half-written output, whatever fails."""

import contextlib
import errno
import os
import shutil
import stat
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
        if sys.stdin is None:
            raise InputError("<stdin>: closed; nothing can be read from it", hint="pipe the input in, or name a file")
        return _spooled(sys.stdin.buffer, "<stdin>", stack, suffix)
    p = Path(path)
    shown = display_name(path)
    if not p.exists():
        raise InputError(f"{shown}: no such file")
    if p.is_dir():
        raise InputError(f"{shown}: is a folder, not a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{shown}: not readable (permissions)")
    if not stat.S_ISREG(p.stat().st_mode):
        # a FIFO, <(process substitution) or /dev/stdin: the readers open a file more than once and seek in it,
        # which lost spectra without a word on a pipe
        with open(p, "rb") as handle:
            return _spooled(handle, shown, stack, suffix or "".join(p.suffixes[-2:]))
    if shown != str(path):
        # a name that is not UTF-8: pyarrow and pymzml take str paths they must encode; a link of a clean name
        # reaches the same file
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="llm4ms-name-"))
        link = Path(folder) / ("input" + "".join(s for s in p.suffixes[-2:] if s.isascii()))
        link.symlink_to(p.resolve())
        return link
    return p


def _spooled(source, shown: str, stack: contextlib.ExitStack, suffix: str) -> Path:
    """``source`` copied into a temporary file that ``stack`` removes."""
    handle = tempfile.NamedTemporaryFile(prefix="llm4ms-stdin-", suffix=suffix, delete=False)
    stack.callback(os.unlink, handle.name)
    with handle:
        shutil.copyfileobj(source, handle, 1 << 20)
    if os.path.getsize(handle.name) == 0:
        raise InputError(f"{shown}: empty input (nothing was piped in, or the step before wrote nothing)")
    return Path(handle.name)


def display_name(path: str) -> str:
    """The name messages and provenance give a path: bytes of a name that are not UTF-8 (a Latin-1 file
    system) as \\x escapes, since a table, a TSV or a terminal cannot take them as they are."""
    if path == STDIO:
        return "<stdin>"
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def output_folder(path: str) -> Path | None:
    """The existing folder an output file goes into (None for stdout); checked before any long work."""
    if path == STDIO:
        return None
    directory = Path(path).parent
    if not directory.is_dir():
        raise InputError(f"{path}: output folder {directory} does not exist")
    return directory


# Errors that say the output cannot be written, whichever library was writing it when they came.
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.ENAMETOOLONG}


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = ""):
    """Yield a temporary path; on success it becomes ``path`` (or is copied to stdout for ``-``).

    The temporary file lives beside the target so the final rename is atomic on one filesystem. A target
    that is a link is followed (the link stays, what it points to is replaced); one that is no regular file
    (/dev/null, a FIFO a reader waits on) is written into, as stdout is, never replaced.
    """
    output_folder(path)
    if path == STDIO and sys.stdout is None:
        raise InputError("stdout is closed; nothing can be written to it", hint="give -o a file name")
    # os.stat follows links as the kernel does (/proc/self/fd/1 is a pipe); realpath could not resolve that one
    streamed = path == STDIO or (os.path.exists(path) and not os.path.isfile(path))
    target = None if path == STDIO else Path(path) if streamed else Path(os.path.realpath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".llm4ms-", suffix=suffix + ".part", dir=None if streamed else target.parent)
    except OSError as exc:  # a read-only folder, or a link to a folder that does not exist
        raise InputError(f"{shown_output(path)}: cannot be written ({exc.strerror} in {target.parent})",
                         hint="choose another output") from exc
    os.close(fd)
    written = False
    try:
        yield Path(tmp)
        written = True
        if streamed:
            with open(tmp, "rb") as src, (contextlib.nullcontext(sys.stdout.buffer) if target is None
                                          else open(target, "wb")) as out:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
            os.unlink(tmp)
        else:
            # mkstemp makes 0600 files; outputs get the permissions any new file would (shared cluster folders).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError) and (
                exc.errno in _CANNOT_WRITE or (written and exc.errno)):
            raise InputError(f"{shown_output(path)}: cannot be written ({os.strerror(exc.errno)})",
                             hint="free space or choose another folder" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                             else "choose another output") from exc
        raise


@contextlib.contextmanager
def atomic_folder(target: Path):
    """Yield a folder to fill beside ``target``; when the block ends without error it replaces ``target``
    (one rename), and on any error it is removed, so a half-written folder is never at ``target`` nor left."""
    partial = target.with_name(f".llm4ms-{target.name}.part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
        if target.exists():
            shutil.rmtree(target)
        partial.replace(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def shown_output(path: str) -> str:
    return "stdout" if path == STDIO else display_name(path)


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
