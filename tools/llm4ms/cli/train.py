import json
import time

import click

from ..backbone import DEFAULT_MODEL
from ..textualize.settings import PEAK_CHOICES
from ..training import DTYPES, LOSSES, POSITIVES, STAGES, TrainSettings
from ..training.augment import PROFILES
from ..training.settings import STATE
from .common import Terminated, given_options, handles_errors, progress_factory, quiet_option, report


@click.command("train")
@click.argument("spectra")
@click.option("-o", "--output", required=True, help="Adapter folder to write (PEFT files + llm4ms_adapter.json).")
@click.option("--stage", type=click.Choice(STAGES), default="supervised", show_default=True,
              help="mntp: masked next-token prediction; simcse: unsupervised contrastive; supervised: "
                   "structure-mined pairs.")
@click.option("--loss", type=click.Choice(LOSSES), default="infonce", show_default=True,
              help="supervised: InfoNCE with hard negatives, or regression of cosine onto Tanimoto.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Backbone, as for llm4ms embed.")
@click.option("--init-adapter", type=click.Path(exists=True, file_okay=False),
              help="Start from this adapter merged (the previous stage); the output then holds both.")
@click.option("--new-text", is_flag=True,
              help="With --init-adapter: accept a start adapter trained on texts made with other settings (a new "
                   "--peak-choice, say) and train it on these. The output reads only these; its record keeps the old.")
@click.option("--layers", type=click.IntRange(1), default=12, show_default=True,
              help="Train and embed with the first N layers.")
@click.option("--steps", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=32, show_default=True,
              help="Spectra per step (supervised: anchors, each with a positive and a hard negative).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-4, show_default=True)
@click.option("--lora-r", type=click.IntRange(1), default=16, show_default=True)
@click.option("--lora-alpha", type=click.IntRange(1), default=32, show_default=True)
@click.option("--max-rank", type=click.IntRange(1),
              help="Cap the saved adapter's rank (each chained stage adds --lora-r): the summed update is cut to "
                   "its strongest directions by SVD, the error recorded. Default: exact, no cap.")
@click.option("--max-length", type=click.IntRange(8), default=192, show_default=True, help="Tokens per text.")
@click.option("--temperature", type=click.FloatRange(0, min_open=True), default=0.05, show_default=True)
@click.option("--augment", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="supervised: chance that a text is re-made from a perturbed copy of its spectrum.")
@click.option("--augment-profile", type=click.Choice(sorted(PROFILES)), default="light", show_default=True,
              help="How a copy is perturbed: light (intensity noise, 10 % of peaks lost; the shipped MS/MS adapter) "
                   "or instrument (also mass discrimination, a low-mass cut-off and noise peaks, as hard to "
                   "match as a real second spectrum; the shipped EI adapter's later stages).")
@click.option("--also-peak-choice", type=click.Choice(sorted(PEAK_CHOICES)),
              help="EI: write half the texts with this peak choice instead (anchors, positives, negatives and "
                   "perturbed copies alike), so the adapter reads both views; embed it with the same "
                   "--also-peak-choice.")
@click.option("--positives", type=click.Choice(POSITIVES), default="all", show_default=True,
              help="supervised: same-kind draws an EI spectrum's same-compound positives only among spectra that, "
                   "like it, are (or are not) above their compound's mass, so a derivative's or a background-laden "
                   "spectrum is not pulled onto the plain compound's; one left without any takes a Tanimoto "
                   "neighbour or a perturbed copy of itself.")
@click.option("--positive-tanimoto", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Other compounds at or above this Tanimoto count as positives, never as negatives.")
@click.option("--negative-tanimoto", type=click.FloatRange(0, 1), default=0.4, show_default=True,
              help="Hard negatives: spectrally close spectra of compounds below this Tanimoto.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(1), default=200, show_default=True,
              help="Steps between checkpoints in OUTPUT.checkpoint/.")
@click.option("--resume", is_flag=True,
              help="Continue from OUTPUT.checkpoint/ (same settings, backbone, training file and --init-adapter), "
                   "as the run would have gone on.")
@click.option("--max-minutes", type=click.FloatRange(0, min_open=True),
              help="Stop after this long and write the adapter as trained so far; the learning-rate schedule is "
                   "fitted to it. A --resume run gets this budget again and goes on along that schedule.")
@click.option("--save-examples", help="Also write the mined training set (Parquet); train reads it back instead "
                                      "of a spectra table.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="cuda trains with bf16 autocast over fp32 weights.")
@click.option("--dtype", type=click.Choice(("auto",) + DTYPES), default="auto", show_default=True,
              help="bf16-mixed: float32 weights, bfloat16 matrix products, as embed runs by default; auto: "
                   "bf16-mixed on CUDA and on CPUs with native bf16 (faster there), else float32.")
@click.option("--threads", type=click.IntRange(1), help="CPU threads for torch (default: torch's choice).")
@quiet_option
@handles_errors("train")
def train_command(spectra, output, stage, loss, model, init_adapter, new_text, layers, steps, batch_size, lr, lora_r,
                  lora_alpha, max_rank, max_length, temperature, augment, augment_profile, also_peak_choice,
                  positives, positive_tanimoto, negative_tanimoto, seed, checkpoint_every, resume, max_minutes,
                  save_examples, device, dtype, threads, quiet):
    """Train one LoRA stage on a textualized library (or a training set saved by --save-examples).

    Chain stages with --init-adapter; llm4ms embed --adapter OUTPUT uses the result.
    """
    from ..steps.train import checkpoint_of, train_adapter
    from ..streams import check_paths

    check_paths([spectra], {"--save-examples": save_examples})
    if threads:
        import torch

        torch.set_num_threads(threads)
    settings = TrainSettings(stage=stage, loss=loss, layers=layers, lora_r=lora_r, lora_alpha=lora_alpha,
                             steps=steps, batch_size=batch_size, lr=lr, max_length=max_length,
                             temperature=temperature, augment=augment, augment_profile=augment_profile,
                             also_peak_choice=also_peak_choice, positives=positives,
                             positive_tanimoto=positive_tanimoto,
                             negative_tanimoto=negative_tanimoto, seed=seed, checkpoint_every=checkpoint_every,
                             max_minutes=max_minutes, max_rank=max_rank)
    if new_text and not init_adapter:
        report("train", "warning: --new-text is ignored without --init-adapter (a first stage reads any text)")
    start = time.perf_counter()
    checkpoint = checkpoint_of(output)
    if resume and not (checkpoint / STATE).exists():
        report("train", f"--resume: no checkpoint in {checkpoint}; training from step 0")
    try:
        made = train_adapter(spectra, output, settings, model, init_adapter, device, resume, save_examples,
                             lambda unit, desc: progress_factory(quiet, unit, desc), dtype, new_text,
                             given_options(), lambda message: report("train", message))
    except (KeyboardInterrupt, Terminated) as stop:
        if (checkpoint / STATE).exists():  # saved as the run stopped: the step in flight is all it loses
            stop.llm4ms_note = f"the checkpoint in {checkpoint} is kept; the same command with --resume continues it"
        raise
    result = made["result"]
    training_set = made["metadata"]["stages"][-1]["training_set"]
    summary = training_set["summary"]
    report("train", f"training set: {summary['spectra']} spectra of {summary['compounds']} compounds; "
                    f"{summary['without_compound']} without an InChIKey and {summary['without_structure']} without "
                    "a parsable structure (those serve mntp/simcse and as augmented self-pairs only)")
    if positives != "all":
        report("train", f"--positives {positives}: {training_set['positives_of_other_kind_set_aside']} "
                        "same-compound positives of the other kind set aside")
    report("train", f"{stage} stage: {result['steps_done']} steps in {time.perf_counter() - start:.0f} s, "
                    f"loss {result['final_loss_mean_last_50']} (mean of the last 50), adapter in {output}")
    if result["stopped_by_time_budget"]:
        report("train", f"stopped by --max-minutes {max_minutes} before step {steps}; "
                        f"--resume continues it: {json.dumps(str(checkpoint))}")
