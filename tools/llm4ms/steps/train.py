"""Spectra table (or mined training set) → LoRA adapter folder, one stage per run."""

import contextlib
import os
import shutil
from dataclasses import replace
from pathlib import Path


from .. import __version__, tables
from ..backbone import resolve_model
from ..backbone.cache import file_digest
from ..backbone.adapters import check_adapter_base, read_metadata, resolve_adapter
from ..errors import InputError, ModelError
from ..streams import STDIO, atomic_folder, atomic_output, display_name, input_path, output_folder
from ..textualize.settings import EI_TEMPLATES, differing_templates, second_view
from ..training.adapters import ADAPTER_FILES, LOG, METADATA, save_adapter
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


MINING_OPTIONS = ("positive_tanimoto", "negative_tanimoto", "hard_negatives")


def mining_settings(settings: TrainSettings, provenance: dict, given: frozenset, name: str) -> TrainSettings:
    """A saved training set was mined with its own thresholds, which the run then uses (the loss's positive
    mask included) and records; an option given for another value would need the set mined again."""
    if provenance["format"] != TRAINING_SET:
        return settings
    mined = {key: value for key, value in provenance["history"][-1]["parameters"].items() if key in MINING_OPTIONS}
    for key in sorted(given & set(mined)):
        if getattr(settings, key) != mined[key]:
            option = "--" + key.replace("_", "-")
            raise InputError(f"{name}: a training set mined with {option} {mined[key]}; {option} "
                             f"{getattr(settings, key)} needs it mined again",
                             hint=f"train on the spectra table it was mined from, or drop {option}")
    return replace(settings, **mined)


def checkpoint_of(output: str) -> Path:
    """The checkpoint folder of adapter folder ``output``: OUTPUT.checkpoint beside it."""
    target = Path(output)
    return target.with_name(target.name + ".checkpoint")


def _check_output(output: Path, save_examples: str | None) -> None:
    if str(output) == STDIO:
        raise InputError("-o -: train writes an adapter folder, which cannot go to stdout",
                         hint="give -o a folder name")
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / METADATA).exists())):
        raise InputError(f"{output}: exists and is not an llm4ms adapter folder; not overwriting it")
    # the new adapter replaces the whole folder: anything kept beside the old one would go with it
    foreign = sorted(set(os.listdir(output)) - ADAPTER_FILES) if output.is_dir() else ()
    if foreign:
        raise InputError(f"{output}: holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''} beside "
                         "its adapter; the new adapter replaces the whole folder",
                         hint="move those files out of it, or give -o a new folder")
    if save_examples and save_examples != STDIO:
        folder, examples = Path(os.path.realpath(output)), Path(os.path.realpath(save_examples))
        if examples == folder or folder in examples.parents:
            raise InputError(f"{save_examples}: --save-examples would go {'in' if examples != folder else 'to'} the "
                             f"adapter folder -o {output}, which the adapter replaces",
                             hint="save the training set outside the adapter folder")
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


def _per_step(settings: TrainSettings, compounds: int, spectra: int, over_length: int, warn) -> dict:
    """What each step takes, for the stage's record, and a warning where it is not what was asked."""
    if settings.stage == "supervised":  # a batch takes one spectrum per compound
        record, why = {"anchors_per_step": min(settings.batch_size, compounds)}, f"{compounds} compounds"
    else:
        record, why = {"texts_per_step": min(settings.batch_size, spectra)}, f"{spectra} spectra"
    taken, = record.values()
    if warn and taken < settings.batch_size:
        warn(f"warning: {taken} {'anchors' if settings.stage == 'supervised' else 'texts'} a step, not --batch-size "
             f"{settings.batch_size}: the training set has {why}")
    if over_length:
        record["texts_over_max_length"] = over_length
        if warn:
            warn(f"warning: {over_length} of {spectra} training texts are longer than --max-length "
                 f"{settings.max_length} tokens; training sees them cut, embed reads them whole (hint: raise "
                 "--max-length)")
    return record


def train_adapter(source: str, output: str, settings: TrainSettings, model: str, init_adapter: str | None,
                  device: str, resume: bool = False, save_examples: str | None = None,
                  progress_factory=None, dtype: str = "auto", new_text: bool = False,
                  given: frozenset = frozenset(), warn=None) -> dict:
    """``given``: the names of the settings asked for (the rest are defaults); a saved training set's mining
    thresholds replace those not asked for. ``warn`` hears, before the first step, of what the run will do
    otherwise than asked."""
    from ..backbone.encoder import pick_device
    from ..training.loop import CheckpointMismatch, train, write_log
    from ..training.model import TrainableEncoder
    from ..training.sampler import Examples

    target = Path(output)
    _check_output(target, save_examples)
    resolved = resolve_model(model)  # a wrong --model or --device fails before the mining, not after it
    device = pick_device(device)
    table, provenance, summary, digest = load_training_set(
        source, settings, save_examples, progress_factory("spectra", "mine pairs") if progress_factory else None)
    name = display_name(source)
    settings = mining_settings(settings, provenance, given, name)
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
    per_step = _per_step(settings, compounds, len(examples), encoder.over_length(table.column("text").to_pylist()),
                         warn)
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
              **per_step,
              **{k: v for k, v in result.items() if k != "history"}}
    if earlier_text is not None:  # the adapter now reads only the new texts; the stages before read these
        record["moved_from_textualization"] = earlier_text
    base = {"name": resolved.name, "fingerprint": resolved.fingerprint}
    if trained_on:  # stages made on the GPU lease's reduced copy of the file keep saying so
        base["trained_on"] = trained_on
    metadata = {"llm4ms_version": __version__, "base_model": base,
                "layers": encoder.layers, "total_layers": encoder.total_layers, "max_length": settings.max_length,
                "templates": templates, "textualization": textualization, "stages": earlier + [record]}
    with atomic_folder(target) as partial:
        save_adapter(encoder.network, partial, init_adapter, metadata, settings.max_rank)
        write_log(result["history"], partial / LOG)
    if not result["stopped_by_time_budget"]:  # a run stopped by --max-minutes keeps it for --resume
        shutil.rmtree(checkpoint, ignore_errors=True)
    return {"metadata": metadata, "result": result}
