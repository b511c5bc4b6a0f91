"""What every command shares: error mapping to one stderr line and an exit code, progress bars, logs."""

import contextlib
import functools
import os
import signal
import sys
import threading

import click

from ..errors import Llm4msError
from ..streams import shown_output as shown  # noqa: F401 (the commands' name for it)


def report(command: str, message: str) -> None:
    """One printable line per message, whatever it quotes (a file name with a newline, a library's error with
    raw bytes or terminal escapes): stderr is read line by line by Galaxy, Nextflow and grep."""
    printable = "".join(c if c.isprintable() else " " for c in message)
    click.echo(f"llm4ms {command}: {' '.join(printable.split())}", err=True)


def given_options() -> frozenset:
    """The running command's options given on its command line rather than left at their defaults."""
    from click.core import ParameterSource

    context = click.get_current_context()
    return frozenset(name for name in context.params
                     if context.get_parameter_source(name) is not ParameterSource.DEFAULT)


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the command is, so that it unwinds as Ctrl-C does: temporary files
    removed, finished resume chunks kept. Schedulers (scancel, Nextflow, Galaxy, timeout, docker stop) stop a
    job this way, and Python's default would end the process on the spot, leaving the temporaries behind."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def _termination_handlers() -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}  # only the main thread may set handlers (a command run from a worker thread keeps Python's)
    return {signum: signal.signal(signum, _raise_terminated) for signum in (signal.SIGTERM, signal.SIGHUP)
            if signal.getsignal(signum) is not signal.SIG_IGN}  # nohup's ignored SIGHUP stays ignored


def handles_errors(command: str):
    """Turn llm4ms errors into ``llm4ms CMD: error [CODE]: ...`` on stderr and the code's exit status."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            previous = _termination_handlers()
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                _close_bars()  # so the message starts a line of its own, not the end of a progress bar
                if isinstance(exc, Llm4msError):
                    report(command, exc.one_line())
                    sys.exit(exc.exit_code)
                note = f"; {exc.llm4ms_note}" if getattr(exc, "llm4ms_note", None) else ""
                if isinstance(exc, KeyboardInterrupt):
                    report(command, f"interrupted; no output was written{note}")
                    sys.exit(130)
                if isinstance(exc, Terminated):
                    report(command, f"stopped by {signal.Signals(exc.signum).name}; no output was written{note}")
                    sys.exit(128 + exc.signum)
                if isinstance(exc, BrokenPipeError):
                    _quiet_stdout()  # the reader (`| head`) has all it wants: end as a pipe's writer does
                    sys.exit(128 + signal.SIGPIPE)
                if isinstance(exc, MemoryError):
                    report(command, "error [E_MEMORY]: out of memory (hint: lower --batch-size)")
                    sys.exit(1)
                if not isinstance(exc, Exception) or os.environ.get("LLM4MS_DEBUG"):
                    raise  # SystemExit from click; a bug's traceback with LLM4MS_DEBUG=1
                report(command, f"error [E_INTERNAL]: {type(exc).__name__}: {exc} "
                                "(hint: rerun with LLM4MS_DEBUG=1 and report the traceback)")
                sys.exit(1)
            finally:
                _OPEN_BARS.clear()
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

        return run

    return wrap


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit does not fail on the closed pipe again."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


_OPEN_BARS = []  # progress bars of the running command


def _close_bars():
    for bar in _OPEN_BARS:
        bar.close()


def progress_factory(quiet: bool, unit: str, desc: str):
    def make(total):
        from tqdm import tqdm

        # a job started with stderr closed (2>&-) has no sys.stderr: no bar, rather than a failed command
        bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=quiet or sys.stderr is None,
                   mininterval=0.5, dynamic_ncols=True)
        _OPEN_BARS.append(bar)
        return bar

    return make


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
output_option = click.option("-o", "--output", required=True, help="Output file, or - for stdout.")
threads_option = click.option("--threads", type=click.IntRange(1), help="CPU threads for faiss (default: all cores).")


def use_threads(threads: int | None) -> None:
    """faiss (OpenMP) uses every core unless asked for fewer, e.g. a cluster job's share."""
    if threads:
        import faiss

        faiss.omp_set_num_threads(threads)
