import time

import click

from ..backbone import DEFAULT_MODEL
from ..backbone.encoder import DTYPES
from ..textualize.settings import PEAK_CHOICES
from .common import shown, handles_errors, output_option, progress_factory, quiet_option, report


@click.command("embed")
@click.argument("spectra")
@output_option
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Backbone: an alias, a GGUF file, a Hugging Face folder, or a hub id.")
@click.option("--adapter", default="auto", show_default=True,
              help="PEFT LoRA adapter folder; auto: the adapter shipped for the table's template (default model "
                   "only); none: the bare backbone.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--dtype", type=click.Choice(DTYPES), default="auto", show_default=True,
              help="bf16-mixed: float32 weights, bfloat16 matrix products (1.6x faster on 2 cores with native bf16); "
                   "auto: bf16-mixed on CUDA and on such CPUs, else float32 (the exact, slow path).")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--layers", type=click.IntRange(1),
              help="Use only the first N transformer layers (default: all, or the depth the adapter was trained at).")
@click.option("--max-length", type=click.IntRange(8), default=512, show_default=True, help="Tokens per text.")
@click.option("--also-peak-choice", type=click.Choice(sorted(PEAK_CHOICES)),
              help="Also embed each EI spectrum from the text this peak choice writes, and store both vectors side "
                   "by side: twice the time and dimensions; search then scores the mean of the two cosines. Embed "
                   "queries and library alike.")
@click.option("--threads", type=click.IntRange(1), help="CPU threads for torch (default: torch's choice).")
@click.option("--chunk-rows", type=click.IntRange(1), default=1024, show_default=True,
              help="Spectra per chunk: each finished chunk is kept, so the same command after a kill carries on "
                   "from the last one.")
@quiet_option
@handles_errors("embed")
def embed_command(spectra, output, model, adapter, device, dtype, batch_size, layers, max_length, also_peak_choice,
                  threads, chunk_rows, quiet):
    """Embed the texts of a spectra table (- for stdin) with the LLM2Vec encoder."""
    from ..steps.embed import embed_table, load_encoder
    from ..streams import check_paths

    check_paths([spectra], {"-o": output})
    if threads:
        import torch

        torch.set_num_threads(threads)

    def warn(message):
        report("embed", message)

    start = time.perf_counter()
    count, encoder = embed_table(spectra, output,
                                 lambda textualization, templates: load_encoder(model, adapter, device, dtype, layers,
                                                                                max_length, textualization, templates,
                                                                                also_peak_choice, warn),
                                 batch_size, chunk_rows, progress_factory(quiet, "spectra", "embed"),
                                 warn=warn, also_peak_choice=also_peak_choice)
    seconds = time.perf_counter() - start
    if encoder.truncated:
        report("embed", f"warning: {encoder.truncated} texts were longer than --max-length {max_length} tokens "
                        "and were truncated")
    now = encoder.encoded // (2 if also_peak_choice else 1)  # the encoder counts texts: two a spectrum then
    resumed = f" ({count - now} from resumed chunks)" if now < count else ""
    report("embed", f"embedded {count} spectra{resumed} with {model} on {encoder.device} in {seconds:.1f} s "
                    f"({now / max(seconds, 1e-9):.1f} spectra/s) to {shown(output)}")
