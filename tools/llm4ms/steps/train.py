"""Spectra table (or mined training set) → LoRA adapter folder, one stage per run."""

import contextlib
import shutil
from pathlib import Path


from .. import __version__, tables
from ..backbone import resolve_model
from ..backbone.cache import file_digest
from ..backbone.adapters import check_adapter_base, read_metadata, resolve_adapter
from ..errors import InputError, ModelError
from ..streams import STDIO, atomic_output, display_name, input_path, output_folder
from ..textualize.settings import EI_TEMPLATES, differing_templates, second_view
from ..training.adapters import METADATA, save_adapter
from ..training.examples import ABOVE_MASS, TRAINING_SET, check_training_set, mine
from ..training.settings import TrainSettings


def load_training_set(source: str, settings: TrainSettings, save_examples: str | None, progress_factory=None):
    """(table, provenance, mining summary, sha256 of the file read): mined now from a spectra table, or read
    back from a saved set."""
    name = display_name(source)
    with contextlib.ExitStack() as stack:
        path = input_path(source, stack)
        provenance = tables.read_provenance(path, name, (tables.SPECTRA, TRAINING_SET))
        table = tables.read_table(path, name)
        digest = file_digest([path])
    if not table.num_rows:
        raise InputError(f"{name}: no spectra to train on")
    if provenance["format"] == TRAINING_SET:
        check_training_set(table, name)
        if save_examples:
            raise InputError(f"{name}: already a training set; --save-examples writes the set mined from a spectra "
                             "table", hint="drop --save-examples (copy the file to keep it under another name)")
        return table, provenance, provenance["history"][-1]["parameters"]["summary"], digest
    progress = progress_factory(table.num_rows) if progress_factory else None
    table, summary = mine(table, settings.positive_tanimoto, settings.negative_tanimoto, settings.hard_negatives,
                          progress)
    if progress is not None:
        progress.close()
    step = tables.step_record("train --save-examples", {
        "positive_tanimoto": settings.positive_tanimoto, "negative_tanimoto": settings.negative_tanimoto,
        "hard_negatives": settings.hard_negatives, "summary": summary}, [source])
    provenance = tables.new_provenance(TRAINING_SET, step, provenance["textualization"], None,
                                       provenance["history"])
    if save_examples:
        with atomic_output(save_examples, ".parquet") as tmp:
            tables.write_table(tmp, table, provenance)
    return table, provenance, summary, digest


def checkpoint_of(output: str) -> Path:
    """The checkpoint folder of adapter folder ``output``: OUTPUT.checkpoint beside it."""
    target = Path(output)
    return target.with_name(target.name + ".checkpoint")


def _check_output(output: Path) -> None:
    if str(output) == STDIO:
        raise InputError("-o -: train writes an adapter folder, which cannot go to stdout",
                         hint="give -o a folder name")
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / METADATA).exists())):
        raise InputError(f"{output}: exists and is not an llm4ms adapter folder; not overwriting it")
    output_folder(str(output))


def _earlier_stages(init_adapter: str | None, resolved, settings: TrainSettings, textualization: dict,
                    templates: set, new_text: bool) -> tuple:
    """(the init adapter's stage records, what its earlier stages were trained on if not this backbone's file,
    the textualization it read if this stage moves it to another)"""
    if not init_adapter:
        return [], None, None
    metadata = read_metadata(Path(init_adapter))
    if metadata is None:
        raise ModelError(f"{init_adapter}: no {METADATA}; --init-adapter takes an adapter made by llm4ms train")
    check_adapter_base(metadata, resolved, init_adapter)
    if metadata["layers"] != settings.layers:
        raise ModelError(f"{init_adapter}: trained on {metadata['layers']} layers, this stage on {settings.layers}",
                         hint=f"use --layers {metadata['layers']}")
    earlier_text = None
    if differing_templates(metadata["textualization"], textualization, templates):
        if not new_text:
            raise ModelError(f"{init_adapter}: trained on texts made with other textualization settings",
                             hint="textualize the training spectra as for that adapter, or pass --new-text to "
                                  "train it on to these texts")
        earlier_text = metadata["textualization"]
    return metadata["stages"], metadata["base_model"].get("trained_on"), earlier_text


def _check_second_view(choice: str | None, textualization: dict, table, name: str) -> None:
    if choice is None:
        return
    if not set(EI_TEMPLATES) & set(table.column("template").to_pylist()):
        raise InputError(f"{name}: no EI spectra; --also-peak-choice writes EI texts a second way only",
                         hint="drop --also-peak-choice")
    second_view(textualization, choice, name)


def _check_positives(positives: str, table, name: str) -> None:
    if positives == "all":
        return
    if ABOVE_MASS.name not in table.column_names:
        raise InputError(f"{name}: training set mined without above-mass flags, which --positives {positives} needs",
                         hint="mine it again: train on the spectra table (with --save-examples to keep it)")
    if not set(EI_TEMPLATES) & set(table.column("template").to_pylist()):
        raise InputError(f"{name}: no EI spectra; --positives {positives} judges EI spectra only",
                         hint="drop --positives")


def train_adapter(source: str, output: str, settings: TrainSettings, model: str, init_adapter: str | None,
                  device: str, resume: bool = False, save_examples: str | None = None,
                  progress_factory=None, dtype: str = "auto", new_text: bool = False) -> dict:
    from ..backbone.encoder import pick_device
    from ..training.loop import CheckpointMismatch, train, write_log
    from ..training.model import TrainableEncoder
    from ..training.sampler import Examples

    target = Path(output)
    _check_output(target)
    resolved = resolve_model(model)  # a wrong --model or --device fails before the mining, not after it
    device = pick_device(device)
    table, provenance, summary, digest = load_training_set(
        source, settings, save_examples, progress_factory("spectra", "mine pairs") if progress_factory else None)
    name = display_name(source)
    textualization = provenance["textualization"]
    templates = sorted(set(table.column("template").to_pylist()))
    earlier, trained_on, earlier_text = _earlier_stages(init_adapter, resolved, settings, textualization,
                                                        set(templates), new_text)
    _check_second_view(settings.also_peak_choice, textualization, table, name)
    _check_positives(settings.positives, table, name)
    examples = Examples(table, textualization, settings.augment_profile, settings.also_peak_choice,
                        settings.positives)
    compounds = len(set(examples.compound_ids[examples.anchors].tolist()))
    if settings.stage == "supervised" and compounds < 2:
        raise InputError(f"{name}: spectra of {compounds} compound(s) with an InChIKey; the supervised stage "
                         "contrasts compounds and needs two or more",
                         hint="train on a library of many compounds, or use --stage mntp or simcse")
    encoder = TrainableEncoder(resolved, settings, init_adapter, device, dtype)
    checkpoint = checkpoint_of(output)
    # What a checkpoint must have been made from to be resumed, besides the settings.
    identity = {"model": resolved.fingerprint, "training_set_sha256": digest,
                "init_adapter": resolve_adapter(init_adapter)["fingerprint"] if init_adapter else None}
    try:
        result = train(encoder, examples, settings, checkpoint, resume,
                       progress_factory(f"steps ({settings.stage})", "train") if progress_factory else None,
                       batch_offset=sum(stage["steps_done"] for stage in earlier), identity=identity)
    except CheckpointMismatch as exc:
        raise InputError(f"{checkpoint}: {exc}", hint="resume with the command that made it, or drop --resume "
                                                      "(the run then starts again)") from exc
    mining = {k: v for k, v in provenance["history"][-1]["parameters"].items() if k != "summary"}
    record = {"stage": settings.stage, "settings": settings.record(), "device": device, "dtype": encoder.dtype,
              "training_set": {"file": tables.file_label(source), "sha256": digest, "rows": table.num_rows,
                               "mining": mining, "summary": summary,
                               **({"positives_of_other_kind_set_aside": examples.set_aside}
                                  if settings.positives != "all" else {})},
              **({"anchors_per_step": min(settings.batch_size, compounds)} if settings.stage == "supervised" else {}),
              **{k: v for k, v in result.items() if k != "history"}}
    if earlier_text is not None:  # the adapter now reads only the new texts; the stages before read these
        record["moved_from_textualization"] = earlier_text
    base = {"name": resolved.name, "fingerprint": resolved.fingerprint}
    if trained_on:  # stages made on the GPU lease's reduced copy of the file keep saying so
        base["trained_on"] = trained_on
    metadata = {"llm4ms_version": __version__, "base_model": base,
                "layers": encoder.layers, "total_layers": encoder.total_layers, "max_length": settings.max_length,
                "templates": templates, "textualization": textualization, "stages": earlier + [record]}
    partial = target.with_name(f".llm4ms-{target.name}.part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        save_adapter(encoder.network, partial, init_adapter, metadata, settings.max_rank)
        write_log(result["history"], partial / "train_log.tsv")
        if target.exists():
            shutil.rmtree(target)
        partial.replace(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if not result["stopped_by_time_budget"]:  # a run stopped by --max-minutes keeps it for --resume
        shutil.rmtree(checkpoint, ignore_errors=True)
    return {"metadata": metadata, "result": result}
