"""What every command shares: error mapping to one stderr line and an exit code, progress bars, logs."""

import functools
import os
import sys

import click

from ..errors import Llm4msError


def report(command: str, message: str) -> None:
    click.echo(f"llm4ms {command}: {message}", err=True)


def shown(path: str) -> str:
    return "stdout" if path == "-" else path


def handles_errors(command: str):
    """Turn llm4ms errors into ``llm4ms CMD: error [CODE]: ...`` on stderr and the code's exit status."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except Llm4msError as exc:
                report(command, exc.one_line())
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                report(command, "interrupted; no output was written")
                sys.exit(130)
            except MemoryError:
                report(command, "error [E_MEMORY]: out of memory (hint: lower --batch-size)")
                sys.exit(1)
            except Exception as exc:  # a bug: one line for users, the traceback with LLM4MS_DEBUG=1
                if os.environ.get("LLM4MS_DEBUG"):
                    raise
                report(command, f"error [E_INTERNAL]: {type(exc).__name__}: {exc} "
                                "(hint: rerun with LLM4MS_DEBUG=1 and report the traceback)")
                sys.exit(1)

        return run

    return wrap


def progress_factory(quiet: bool, unit: str, desc: str):
    def make(total):
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=quiet, mininterval=0.5,
                    dynamic_ncols=True)

    return make


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
output_option = click.option("-o", "--output", required=True, help="Output file, or - for stdout.")
threads_option = click.option("--threads", type=click.IntRange(1), help="CPU threads for faiss (default: all cores).")


def use_threads(threads: int | None) -> None:
    """faiss (OpenMP) uses every core unless asked for fewer, e.g. a cluster job's share."""
    if threads:
        import faiss

        faiss.omp_set_num_threads(threads)
