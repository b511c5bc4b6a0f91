import click

from ..spectra import FORMATS
from ..textualize import AUTO, TEMPLATES, TextSettings
from ..textualize.settings import PEAK_CHOICES, STRONGEST
from .common import shown, handles_errors, output_option, progress_factory, quiet_option, report


@click.command("textualize")
@click.argument("inputs", nargs=-1, required=True)
@output_option
@click.option("--template", type=click.Choice((AUTO,) + TEMPLATES), default=AUTO, show_default=True,
              help="auto: msms for MS2 spectra with a precursor m/z, ei otherwise (recorded per row).")
@click.option("--top-n", type=click.IntRange(1), help="Strongest peaks kept [ei and paper-ei 30, msms 20].")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Minimum relative intensity [0.005].")
@click.option("--decimals", type=click.IntRange(0, 6), help="m/z decimals in the msms template [1].")
@click.option("--peak-choice", type=click.Choice(sorted(PEAK_CHOICES)), default=STRONGEST, show_default=True,
              help="Which peaks EI texts keep: the strongest (the paper's), or those m/z^3 * I^0.6 weighs most, "
                   "which keeps weak high-m/z peaks (msms texts keep the strongest). An adapter reads only the "
                   "choice it was trained on.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Input format (default: from name or content).")
@click.option("--rejected", help="Write rejected spectra (file, position, id, reason) to this TSV.")
@quiet_option
@handles_errors("textualize")
def textualize_command(inputs, output, template, top_n, threshold, decimals, peak_choice, fmt, rejected, quiet):
    """Read spectra (MGF, MSP, mzML, matchms JSON, llm4ms Parquet; - for stdin) and write a spectra table
    with one text per spectrum."""
    from ..steps.textualize import textualize_files, write_rejected
    from ..streams import check_paths

    check_paths(inputs, {"-o": output, "--rejected": rejected})
    settings = TextSettings(template, top_n, threshold, decimals, peak_choice)
    progress = progress_factory(quiet, "spectra", "textualize")(None)
    result = textualize_files(list(inputs), output, settings, fmt, progress)
    progress.close()
    if rejected:
        write_rejected(result.rejected, rejected, result.provenance)
    else:
        for item in result.rejected:
            report("textualize", item.one_line())
    for item in result.notes:
        report("textualize", item.one_line("warning"))
    mix = ", ".join(f"{k}: {v}" for k, v in sorted(result.templates.items()))
    report("textualize", f"wrote {result.written} spectra ({mix}) to {shown(output)}; {len(result.rejected)} rejected"
           + (f" (listed in {rejected})" if rejected and result.rejected else ""))
