"""llm4ms train: pair mining on real spectra, the stages, chained adapters that embed exactly as trained,
checkpoints that resume to the same run, and the command's errors."""

import json
import os
import signal
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from llm4ms.backbone import resolve_model
from llm4ms.backbone.cache import file_digest
from llm4ms.backbone.encoder import SpectrumEncoder
from llm4ms.steps.train import load_training_set
from llm4ms.training import TrainSettings
from llm4ms.training.adapters import combine_adapters, fold_adapter, save_adapter
from llm4ms.training.fingerprints import morgan_bits, tanimoto_matrix
from llm4ms.training.loop import train
from llm4ms.training.model import TrainableEncoder
from llm4ms.training.sampler import Examples, supervised_batch

TINY = TrainSettings(layers=2, batch_size=6, steps=4, lora_r=4, lora_alpha=8, checkpoint_every=2)


def _textualized(tmp_path_factory, name):
    """A spectra table of the bundled file ``name``, textualized with the defaults."""
    from click.testing import CliRunner

    from llm4ms.cli.main import main

    from conftest import TEST_DATA as data

    out = tmp_path_factory.mktemp("table") / "lib.parquet"
    result = CliRunner().invoke(main, ["textualize", "-q", str(data / name), "-o", str(out)])
    assert result.exit_code == 0
    return out


@pytest.fixture(scope="module")
def ms2_table(tmp_path_factory):
    return _textualized(tmp_path_factory, "ms2_library.mgf")


@pytest.fixture(scope="module")
def mined(ms2_table, tmp_path_factory):
    out = tmp_path_factory.mktemp("mined") / "set.parquet"
    table, provenance, summary, _ = load_training_set(str(ms2_table), TINY, str(out))
    return table, provenance, summary, out


def test_mining_keeps_every_spectrum_and_respects_the_structure_rules(mined, ms2_table):
    table, provenance, summary, saved = mined
    source = pq.read_table(ms2_table)
    assert table.num_rows == source.num_rows == summary["spectra"]
    assert table.column("id").to_pylist() == source.column("id").to_pylist()
    keys = table.column("compound").to_pylist()
    assert keys == [k[:14] for k in source.column("inchikey").to_pylist()]
    prints = {k: morgan_bits(s) for k, s in zip(keys, source.column("smiles").to_pylist())}
    for row, (positives, negatives) in enumerate(zip(table.column("positives").to_pylist(),
                                                     table.column("hard_negatives").to_pylist())):
        assert sorted(positives) == [r for r, k in enumerate(keys) if k == keys[row] and r != row]
        for other in negatives:
            assert keys[other] != keys[row]
            pair = tanimoto_matrix(prints[keys[row]][None], prints[keys[other]][None])[0, 0]
            same_window = abs(source.column("precursor_mz")[row].as_py() - source.column("precursor_mz")[other].as_py()
                              ) <= 0.01
            assert pair < (TINY.positive_tanimoto if same_window else TINY.negative_tanimoto)
    assert summary["with_same_compound_positive"] == sum(bool(p) for p in table.column("positives").to_pylist())
    assert json.loads(pq.read_schema(saved).metadata[b"llm4ms"])["format"] == "llm4ms.training-set"
    assert pq.read_table(saved).column("hard_negatives").to_pylist() == table.column("hard_negatives").to_pylist()


def test_model_negatives_add_the_encoders_nearest_wrong_compounds(mined, ms2_table, cli, tiny_model, tmp_path):
    from benchmarks.training.model_negatives import main as add_model_negatives

    table, _, summary, saved = mined
    assert cli("embed", "-q", ms2_table, "-o", tmp_path / "emb.parquet", "--model", tiny_model).exit_code == 0
    add_model_negatives([str(saved), str(tmp_path / "emb.parquet"), "-o", str(tmp_path / "more.parquet"),
                         "--per-spectrum", "3"])
    more, provenance, more_summary, _ = load_training_set(str(tmp_path / "more.parquet"), TINY, None)
    assert more_summary["model_negatives"]["spectra_with_model_negatives"] == table.num_rows
    assert {k: v for k, v in more_summary.items() if k != "model_negatives"} == summary
    assert provenance["history"][-1]["parameters"]["model"]["layers"] == 2
    vectors = np.stack(pq.read_table(tmp_path / "emb.parquet").column("embedding").to_numpy(zero_copy_only=False))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = table.column("compound").to_pylist()
    prints = np.stack([np.frombuffer(p, np.uint8) for p in table.column("fingerprint").to_pylist()])
    tanimoto = tanimoto_matrix(prints, prints)
    for row, (before, after) in enumerate(zip(table.column("hard_negatives").to_pylist(),
                                              more.column("hard_negatives").to_pylist())):
        assert after[:len(before)] == before  # the spectral negatives stay, first
        allowed = [r for r in range(len(keys)) if keys[r] != keys[row] and tanimoto[row, r] < TINY.positive_tanimoto]
        nearest = sorted(allowed, key=lambda r: -float(vectors[row] @ vectors[r]))[:3]
        assert set(after) == set(before) | set(nearest)
    embedded = pq.read_table(tmp_path / "emb.parquet")
    pq.write_table(embedded.take(np.arange(embedded.num_rows)[::-1]), tmp_path / "reversed.parquet")
    with pytest.raises(SystemExit) as failure:  # the same spectra in another order: rows would be mismatched
        add_model_negatives([str(saved), str(tmp_path / "reversed.parquet"), "-o", str(tmp_path / "x.parquet")])
    assert failure.value.code == 2 and not (tmp_path / "x.parquet").exists()


def test_tanimoto_on_packed_bits_matches_rdkit():
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    smiles = ["CCO", "CCCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    rdkit_prints = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    ours = tanimoto_matrix(np.stack([morgan_bits(s) for s in smiles]), np.stack([morgan_bits(s) for s in smiles]))
    for i in range(4):
        expected = DataStructs.BulkTanimotoSimilarity(rdkit_prints[i], rdkit_prints)
        assert ours[i] == pytest.approx(expected, abs=1e-6)


def test_supervised_batches_are_reproducible_and_never_pair_a_compound_with_itself(mined):
    table, provenance, _, _ = mined
    examples = Examples(table, provenance["textualization"])
    first = supervised_batch(examples, 7, 3, 6, 0.5)
    again = supervised_batch(examples, 7, 3, 6, 0.5)
    assert first[0] == again[0] and (first[1] == again[1]).all()
    anchors, positives, negatives = first[1], first[2], first[3]
    assert len(set(examples.compound_ids[anchors])) == len(anchors)
    for a, p, n in zip(anchors, positives, negatives):
        assert examples.compound_ids[p] == examples.compound_ids[a] or p in examples.neighbours[a] or p == a
        assert n in examples.negatives[a]


def test_instrument_copies_differ_more_than_light_ones_and_the_sampler_uses_the_chosen_profile(mined):
    # Real EI spectra: the instrument profile must move copies further from their spectrum (that is its
    # purpose, benchmarks/augment_realism.py), never empty a spectrum, and add noise peaks at unit mass.
    from matchms.importing import load_from_msp

    from conftest import TEST_DATA as data
    from llm4ms.training.augment import PROFILES, perturb

    def cosine(a, b):
        va, vb = np.zeros(2000), np.zeros(2000)
        np.maximum.at(va, np.rint(a[0]).astype(int), np.sqrt(a[1]))
        np.maximum.at(vb, np.rint(b[0]).astype(int), np.sqrt(b[1]))
        return va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)

    rng = np.random.default_rng(0)
    similarity = {name: [] for name in PROFILES}
    for spectrum in load_from_msp(str(data / "ei_library.msp")):
        mz, intensities = spectrum.peaks.mz, spectrum.peaks.intensities / spectrum.peaks.intensities.max()
        for name, profile in PROFILES.items():
            for _ in range(5):
                copy = perturb(rng, mz, intensities, profile, high_resolution=False)
                added = np.array(sorted(set(copy[0]) - set(mz)))
                assert np.all(added == np.rint(added)) and len(copy[0]) > len(added)
                similarity[name].append(cosine((mz, intensities), copy))
                if name == "light":
                    assert set(copy[0]) <= set(mz)
    assert np.mean(similarity["instrument"]) < np.mean(similarity["light"]) - 0.05

    table, provenance, _, _ = mined
    texts = {name: supervised_batch(Examples(table, provenance["textualization"], name), 7, 3, 6, 1.0)[0]
             for name in PROFILES}
    assert texts["light"] == supervised_batch(Examples(table, provenance["textualization"]), 7, 3, 6, 1.0)[0]
    assert texts["light"] != texts["instrument"]
    assert TrainSettings(augment_profile="instrument").record()["augment_perturbation"]["mz_tilt"] > 0


def _perturb(network, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)


@pytest.fixture
def second_stage(mined, tiny_model, tmp_path):
    """A stage trained (here: perturbed) on top of an earlier adapter saved in tmp_path, and its vectors."""
    table, provenance, _, _ = mined
    texts = table.column("text").to_pylist()[:10]
    model = resolve_model(str(tiny_model))
    # float32 on both sides: the check is that the saved folder is the trained network, not bf16 rounding
    first = TrainableEncoder(model, TINY, None, "cpu", "float32")
    _perturb(first.network, 1)
    save_adapter(first.network, tmp_path, None, {"stages": []})
    second = TrainableEncoder(model, TINY, str(tmp_path), "cpu", "float32")
    _perturb(second.network, 2)
    second.network.eval()
    with torch.no_grad():
        expected = torch.nn.functional.normalize(second.embed(texts), dim=-1).numpy()
    return model, texts, second.network, expected


def _save_chained(network, tmp_path, name, max_rank=None):
    folder = tmp_path / name
    folder.mkdir()
    metadata = {"stages": [{"stage": "supervised"}]}
    save_adapter(network, folder, str(tmp_path), metadata, max_rank)
    return folder, metadata


def test_chained_adapter_embeds_exactly_as_the_network_it_was_trained_in(second_stage, tmp_path):
    """A stage on top of an earlier adapter saves both updates in one PEFT folder (ranks concatenated);
    llm4ms embed with that folder reproduces the trained network's vectors."""
    model, texts, network, expected = second_stage
    chained, metadata = _save_chained(network, tmp_path, "chained", max_rank=8)  # a cap at the rank: exact
    assert "fold" not in metadata["stages"][-1]
    config = json.loads((chained / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 8
    encoder = SpectrumEncoder(model, adapter_path=str(chained), layers=2, dtype="float32")
    got = encoder.encode(texts, 4)
    assert np.abs(got - expected).max() < 2e-3  # the folder holds float16 factors
    bare = SpectrumEncoder(model, layers=2).encode(texts, 4)
    assert np.abs(bare - expected).max() > 0.05


def _updates(folder):
    """Each module's saved update B·A (alpha = r, so no scaling), keyed by its lora_A name."""
    from safetensors.torch import load_file

    weights = load_file(str(folder / "adapter_model.safetensors"))
    return {key: weights[key.replace(".lora_A.", ".lora_B.")].float() @ weights[key].float()
            for key in weights if ".lora_A." in key}


def test_a_rank_cap_saves_the_best_approximation_of_the_summed_update(second_stage, tmp_path):
    """--max-rank: each module's B·A becomes its best rank-k approximation (Eckart-Young, checked against a
    full SVD of the exact update), the error recorded, and the folder still loads in embed."""
    model, texts, network, expected = second_stage
    exact, _ = _save_chained(network, tmp_path, "exact")
    capped, metadata = _save_chained(network, tmp_path, "capped", max_rank=5)
    config = json.loads((capped / "adapter_config.json").read_text())
    assert config["r"] == 5 and config["lora_alpha"] == 5
    full, cut = _updates(exact), _updates(capped)
    errors = []
    for key, update in full.items():
        u, s, vh = torch.linalg.svd(update, full_matrices=False)
        best = (u[:, :5] * s[:5]) @ vh[:5]
        assert torch.linalg.matrix_rank(cut[key]) == 5
        assert torch.linalg.norm(cut[key] - best) <= 2e-3 * torch.linalg.norm(update)  # float16 factors
        errors.append(float(torch.linalg.norm(update - best) / torch.linalg.norm(update)))
    fold = metadata["stages"][-1]["fold"]
    assert fold["from_rank"] == 8 and fold["rank"] == 5 and 0.05 < fold["relative_error_max"] < 1
    assert fold["relative_error_max"] == pytest.approx(max(errors), abs=2e-3)
    vectors = SpectrumEncoder(model, adapter_path=str(capped), layers=2, dtype="float32").encode(texts, 4)
    bare = SpectrumEncoder(model, layers=2).encode(texts, 4)
    assert np.abs(vectors - expected).max() < np.abs(bare - expected).max()
    # folding the saved folder afterwards matches capping at save time (up to its float16 factors)
    refold = fold_adapter(exact, tmp_path / "folded", 5)
    assert refold == pytest.approx(fold, abs=1e-3) and refold["rank"] == 5
    for key, update in _updates(tmp_path / "folded").items():
        assert torch.linalg.norm(update - cut[key]) <= 2e-3 * torch.linalg.norm(cut[key])
    assert json.loads((tmp_path / "folded" / "adapter_config.json").read_text()) == config
    assert fold_adapter(exact, tmp_path / "unchanged", 8) == {}


def _describe(folder, layers=2, ei_top_n=30):
    """Give a test adapter folder the metadata of a real one (backbone, depth, texts)."""
    metadata = json.loads((folder / "llm4ms_adapter.json").read_text())
    metadata.update(base_model={"fingerprint": "f" * 64, "name": "tiny"}, layers=layers, templates=["ei"],
                    textualization={"templates_version": 2, "templates": {
                        "ei": {"top_n": ei_top_n}, "msms": {"top_n": 20, "extra": ei_top_n}}})
    (folder / "llm4ms_adapter.json").write_text(json.dumps(metadata))
    return folder


def test_combined_adapters_hold_the_linear_combination_of_their_updates(second_stage, tmp_path):
    """benchmarks.adapter_arithmetic: c1 dW1 + c2 dW2 is one PEFT folder (ranks concatenated) whose update is
    exactly that sum; coefficient 1 of one folder embeds as that folder; other texts or depth are refused."""
    model, texts, network, expected = second_stage
    first = _describe(tmp_path)
    chained = _describe(_save_chained(network, tmp_path, "chained")[0])
    combine_adapters([(1.0, chained)], tmp_path / "same")
    vectors = SpectrumEncoder(model, adapter_path=str(tmp_path / "same"), layers=2, dtype="float32").encode(texts, 4)
    assert np.abs(vectors - expected).max() < 2e-3
    record = combine_adapters([(0.25, first), (-1.5, chained)], tmp_path / "mix")
    assert [(r["coefficient"], r["r"], r["stages"]) for r in record] == [(0.25, 4, 0), (-1.5, 8, 1)]
    config = json.loads((tmp_path / "mix" / "adapter_config.json").read_text())
    assert config["r"] == config["lora_alpha"] == 12
    mixed, one, two = _updates(tmp_path / "mix"), _updates(first), _updates(chained)
    assert set(mixed) == set(one)
    for key, update in mixed.items():
        wanted = 0.25 * one[key] - 1.5 * two[key]
        assert torch.linalg.norm(update - wanted) <= 2e-3 * torch.linalg.norm(wanted)  # float16 factors
    metadata = json.loads((tmp_path / "mix" / "llm4ms_adapter.json").read_text())
    assert metadata["combined_from"] == record and metadata["layers"] == 2
    # a later llm4ms's setting on a template the adapters were not trained on does not stand in the way
    other = tmp_path / "other"
    other.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "llm4ms_adapter.json"):
        (other / name).write_bytes((first / name).read_bytes())
    metadata = json.loads((other / "llm4ms_adapter.json").read_text())
    metadata["textualization"]["templates"]["msms"]["extra"] = 99
    (other / "llm4ms_adapter.json").write_text(json.dumps(metadata))
    combine_adapters([(0.5, first), (0.5, other)], tmp_path / "fine")
    for change, message in (({"ei_top_n": 20}, "other texts"), ({"layers": 3}, "other layers")):
        with pytest.raises(ValueError, match=message):
            combine_adapters([(0.5, first), (0.5, _describe(other, **change))], tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    with pytest.raises(ValueError, match="already exists"):
        combine_adapters([(1.0, first)], tmp_path / "fine")


def test_an_adapter_folder_appears_whole_or_not_at_all(tmp_path):
    # train and combine_adapters write their folders through atomic_folder: an error while writing must leave
    # the old folder as it was (train replaces one) and nothing beside it; success replaces it whole.
    from llm4ms.streams import atomic_folder

    target = tmp_path / "adapter"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_folder(target) as partial:
            (partial / "new").write_text("new")
            raise RuntimeError("killed while writing")
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"] and (target / "old").read_text() == "old"
    with atomic_folder(target) as partial:
        (partial / "new").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"] and [p.name for p in target.iterdir()] == ["new"]


def _stopping_in_step(monkeypatch, stage, index, stop):
    """Make the stage's loss call ``stop()`` in the step of 0-based ``index`` (raise, or send this process a
    signal), then compute as usual; returns the real loss function."""
    import llm4ms.training.loop as loop

    compute = loop.LOSSES[stage]

    def stopping(encoder, examples, settings, step):
        if step == index:
            stop()
        return compute(encoder, examples, settings, step)

    monkeypatch.setitem(loop.LOSSES, stage, stopping)
    return compute


def _send(signum):
    return lambda: os.kill(os.getpid(), signum)


@pytest.mark.parametrize("stage, loss", [("mntp", "infonce"), ("simcse", "infonce"), ("supervised", "infonce"),
                                         ("supervised", "tanimoto")])
def test_a_resumed_run_continues_exactly_where_it_stopped(mined, tiny_model, tmp_path, monkeypatch, stage, loss):
    # With dropout on (LoRA's, and simcse's attention dropout), as every real run has it: the resumed run must
    # draw the dropout masks the whole run drew, so its losses are the whole run's to the last digit. Stopped
    # two ways: a crash inside step 3 (the checkpoint of step 2 is resumed), and SIGTERM during step 2, held
    # until the step ends (the checkpoint is saved at step 2 and then the signal acts).
    import llm4ms.training.loop as loop

    table, provenance, _, _ = mined
    settings = replace(TINY, stage=stage, loss=loss, checkpoint_every=2)
    assert settings.lora_dropout > 0 and settings.dropout > 0
    model = resolve_model(str(tiny_model))
    examples = Examples(table, provenance["textualization"])
    whole = train(TrainableEncoder(model, settings, None, "cpu"), examples, settings, tmp_path / "a", False)
    assert whole["steps_done"] == 4 and all(np.isfinite(h[1]) for h in whole["history"])

    class Stopped(BaseException):
        pass

    def crash():
        raise Stopped

    def raise_stopped(signum, frame):
        raise Stopped

    previous = signal.signal(signal.SIGTERM, raise_stopped)
    try:  # a crash inside step 3, and SIGTERM during step 2
        for name, index, stop in (("crash", 2, crash), ("sigterm", 1, _send(signal.SIGTERM))):
            compute = _stopping_in_step(monkeypatch, stage, index, stop)
            with pytest.raises(Stopped):
                train(TrainableEncoder(model, settings, None, "cpu"), examples, settings, tmp_path / name, False)
            monkeypatch.setitem(loop.LOSSES, stage, compute)
            state = torch.load(tmp_path / name / loop.STATE, weights_only=False)
            assert state["step"] == 2, name
            resumed = train(TrainableEncoder(model, settings, None, "cpu"), examples, settings, tmp_path / name,
                            True)
            assert [h[0] for h in resumed["history"]] == [1, 2, 3, 4]
            assert [h[1] for h in resumed["history"]] == [h[1] for h in whole["history"]], name
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_an_ignored_signal_stays_ignored_during_training(mined, tiny_model, monkeypatch, tmp_path):
    # nohup ignores SIGHUP so that a job outlives its terminal: holding signals to the end of a step must
    # not turn an ignored one into a stop
    table, provenance, _, _ = mined
    _stopping_in_step(monkeypatch, "supervised", 1, _send(signal.SIGHUP))
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        encoder = TrainableEncoder(resolve_model(str(tiny_model)), TINY, None, "cpu")
        result = train(encoder, Examples(table, provenance["textualization"]), TINY, tmp_path / "a.checkpoint", False)
        assert result["steps_done"] == TINY.steps
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_train_command_writes_an_adapter_that_embed_uses(cli, ms2_table, tiny_model, tmp_path):
    out = tmp_path / "adapter"
    result = cli("train", "-q", ms2_table, "-o", out, "--model", tiny_model, "--layers", "2", "--steps", "3",
                 "--batch-size", "4", "--lora-r", "4", "--save-examples", tmp_path / "set.parquet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert {p.name for p in out.iterdir()} == {"adapter_config.json", "adapter_model.safetensors",
                                               "llm4ms_adapter.json", "train_log.tsv"}
    assert not (tmp_path / "adapter.checkpoint").exists()
    metadata = json.loads((out / "llm4ms_adapter.json").read_text())
    assert metadata["layers"] == 2 and metadata["templates"] == ["msms"]
    assert [s["stage"] for s in metadata["stages"]] == ["supervised"] and metadata["stages"][0]["steps_done"] == 3
    assert len((out / "train_log.tsv").read_text().splitlines()) == 4
    assert "also_peak_choice" not in metadata["stages"][0]["settings"]  # single-view records are as they were
    metadata["base_model"]["trained_on"] = {"name": "reduced copy", "fingerprint": "0" * 64}  # as the lease ships them
    (out / "llm4ms_adapter.json").write_text(json.dumps(metadata))
    result = cli("train", "-q", tmp_path / "set.parquet", "-o", tmp_path / "next", "--model", tiny_model,
                 "--layers", "2", "--steps", "2", "--batch-size", "4", "--lora-r", "4", "--stage", "simcse",
                 "--init-adapter", out)
    assert result.exit_code == 0, result.stderr
    chain = json.loads((tmp_path / "next" / "llm4ms_adapter.json").read_text())
    assert [s["stage"] for s in chain["stages"]] == ["supervised", "simcse"]
    assert chain["base_model"] == metadata["base_model"]  # the earlier stage's training file stays on record
    assert chain["stages"][1]["batch_offset"] == 3  # the second stage draws batches the first did not see
    assert json.loads((tmp_path / "next" / "adapter_config.json").read_text())["r"] == 8
    result = cli("train", "-q", tmp_path / "set.parquet", "-o", tmp_path / "timed", "--model", tiny_model,
                 "--layers", "2", "--steps", "50", "--batch-size", "4", "--lora-r", "4", "--max-minutes", "0.0001")
    assert result.exit_code == 0 and "--resume continues it" in result.stderr, result.stderr
    assert json.loads((tmp_path / "timed" / "llm4ms_adapter.json").read_text())["stages"][0]["steps_done"] == 1
    result = cli("train", "-q", tmp_path / "set.parquet", "-o", tmp_path / "timed", "--model", tiny_model,
                 "--layers", "2", "--steps", "50", "--batch-size", "4", "--lora-r", "4", "--resume")
    assert result.exit_code == 0, result.stderr
    assert len((tmp_path / "timed" / "train_log.tsv").read_text().splitlines()) == 51
    assert not (tmp_path / "timed.checkpoint").exists()
    result = cli("embed", "-q", ms2_table, "-o", tmp_path / "emb.parquet", "--model", tiny_model,
                 "--adapter", tmp_path / "next")
    assert result.exit_code == 0, result.stderr
    record = json.loads(pq.read_schema(tmp_path / "emb.parquet").metadata[b"llm4ms"])["model"]
    assert record["layers"] == 2 and record["adapter"]["name"] == "next"


def test_train_refuses_what_it_cannot_use(cli, ms2_table, tiny_model, other_tiny_model, data, tmp_path):
    def fails(result, code, fragment):
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == code and len(lines) == 1 and fragment in lines[0], result.stderr

    args = ["--model", tiny_model, "--layers", "2", "--steps", "1", "--batch-size", "4", "--lora-r", "4", "-q"]
    fails(cli("train", data / "ms2_library.mgf", "-o", tmp_path / "a", *args), 3, "not a Parquet file")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    fails(cli("train", ms2_table, "-o", tmp_path / "taken", *args), 3, "not an llm4ms adapter folder")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert cli("train", ms2_table, "-o", tmp_path / "a", *args).exit_code == 0
    fails(cli("train", ms2_table, "-o", tmp_path / "b", "--init-adapter", tmp_path / "a", "--model", other_tiny_model,
              "--layers", "2", "--steps", "1", "-q"), 5, "adapter was trained on")
    fails(cli("train", ms2_table, "-o", tmp_path / "b", "--init-adapter", tmp_path / "a", "--model", tiny_model,
              "--layers", "1", "--steps", "1", "-q"), 5, "trained on 2 layers")
    fails(cli("train", ms2_table, "-o", tmp_path / "b", "--also-peak-choice", "mz-weighted", *args), 3,
          "no EI spectra")
    fails(cli("embed", ms2_table, "-o", tmp_path / "e.parquet", "--model", tiny_model, "--adapter", tmp_path / "a",
              "--layers", "1", "-q"), 5, "trained on the first 2 layers")
    assert not (tmp_path / "b").exists() and not (tmp_path / "e.parquet").exists()
    # Settings of templates the table has none of do not matter: an EI peak choice leaves MS/MS texts as they are.
    assert cli("textualize", "-q", data / "ms2_library.mgf", "-o", tmp_path / "same.parquet",
               "--peak-choice", "mz-weighted").exit_code == 0
    result = cli("train", tmp_path / "same.parquet", "-o", tmp_path / "c", "--init-adapter", tmp_path / "a", *args)
    assert result.exit_code == 0, result.stderr
    assert "moved_from_textualization" not in json.loads((tmp_path / "c" / "llm4ms_adapter.json").read_text())[
        "stages"][-1]
    # Another text: refused unless asked for, and then the adapter reads the new text and remembers the old.
    assert cli("textualize", "-q", data / "ms2_library.mgf", "-o", tmp_path / "w.parquet",
               "--top-n", "12").exit_code == 0
    fails(cli("train", tmp_path / "w.parquet", "-o", tmp_path / "b", "--init-adapter", tmp_path / "a", *args), 5,
          "other textualization settings")
    assert not (tmp_path / "b").exists()
    result = cli("train", tmp_path / "w.parquet", "-o", tmp_path / "b", "--init-adapter", tmp_path / "a",
                 "--new-text", *args)
    assert result.exit_code == 0, result.stderr
    moved, before = (json.loads((tmp_path / n / "llm4ms_adapter.json").read_text()) for n in ("b", "a"))
    assert moved["textualization"] == json.loads(pq.read_schema(tmp_path / "w.parquet").metadata[b"llm4ms"])[
        "textualization"] != before["textualization"]
    assert moved["stages"][-1]["moved_from_textualization"] == before["textualization"]


def test_a_second_text_view_writes_half_the_texts_with_the_other_peak_choice(cli, data, tiny_model, tmp_path):
    # Real EI spectra: the second view must be exactly what `textualize --peak-choice mz-weighted` writes,
    # batches must draw texts of both views, and the adapter record must say it read both.
    for choice in ("strongest", "mz-weighted"):
        assert cli("textualize", "-q", data / "ei_library.msp", "-o", tmp_path / f"{choice}.parquet",
                   "--peak-choice", choice).exit_code == 0
    table, provenance, _, _ = load_training_set(str(tmp_path / "strongest.parquet"), TINY, None)
    weighted = pq.read_table(tmp_path / "mz-weighted.parquet").column("text").to_pylist()
    examples = Examples(table, provenance["textualization"], also_peak_choice="mz-weighted")
    assert examples.views[1][1] == weighted != examples.texts
    differ = {row for row, (a, b) in enumerate(zip(examples.texts, weighted)) if a != b}

    def views_drawn(examples):  # which texts of rows whose two views differ the batches used: True = weighted
        seen = set()
        for step in range(20):
            texts, *rows = supervised_batch(examples, 0, step, 6, 0.0)
            for batch, batch_rows in zip(texts, rows):
                seen |= {text == weighted[row] for text, row in zip(batch, batch_rows)
                         if row in differ and text in (examples.texts[row], weighted[row])}
        return seen

    assert views_drawn(examples) == {True, False}
    assert views_drawn(Examples(table, provenance["textualization"])) == {False}

    args = ["--model", tiny_model, "--layers", "2", "--steps", "1", "--batch-size", "4", "--lora-r", "4", "-q"]
    result = cli("train", tmp_path / "strongest.parquet", "-o", tmp_path / "two", "--also-peak-choice", "mz-weighted",
                 *args)
    assert result.exit_code == 0, result.stderr
    settings = json.loads((tmp_path / "two" / "llm4ms_adapter.json").read_text())["stages"][-1]["settings"]
    assert settings["also_peak_choice"] == "mz-weighted"
    # embed says so when the second view is not asked for, and not when it is
    for extra, noted in (([], True), (["--also-peak-choice", "mz-weighted"], False)):
        result = cli("embed", "-q", tmp_path / "strongest.parquet", "-o", tmp_path / "e.parquet", "--model", tiny_model,
                     "--adapter", tmp_path / "two", *extra)
        assert result.exit_code == 0, result.stderr
        assert ("also trained on mz-weighted texts" in result.stderr) == noted, result.stderr
    for source, choice, fragment in (("strongest.parquet", "strongest", "already keep the strongest peaks"),
                                     ("mz-weighted.parquet", "mz-weighted", "already keep the mz-weighted")):
        result = cli("train", tmp_path / source, "-o", tmp_path / "no", "--also-peak-choice", choice, *args)
        assert result.exit_code == 3 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "no").exists()


def test_the_lease_runner_starts_a_continued_stage_from_the_bare_backbone_when_told_none(mined, ms2_table, tiny_model,
                                                                                        tmp_path):
    # A depth run on the GPU has no adapter to continue (the shipped ones have 12 layers and name another reduced
    # copy), so `--init TASK:none` must train the stage from the backbone alone and say so in its command.
    from benchmarks.training import run_variants

    _, _, _, training_set = mined
    run_variants.main(["--model", str(tiny_model), "--device", "cpu", "--layers", "2", "--task",
                       f"ms2:{training_set}:{ms2_table}", "--task-minutes", "5", "--steps", "2", "--batch-size", "4",
                       "--stages", "continued", "--init", "ms2:none", "--out", str(tmp_path / "runs"),
                       "--report", str(tmp_path / "report")])
    result = json.loads((tmp_path / "report" / "results.json").read_text())["ms2"]["continued"]
    assert result["steps"] == 2 and set(result["dev"]) == {"open", "window"}, result
    assert "--init-adapter" not in result["command"] and "--layers 2" in result["command"]
    metadata = json.loads((tmp_path / "runs" / "ms2-continued" / "llm4ms_adapter.json").read_text())
    assert [s["stage"] for s in metadata["stages"]] == ["supervised"] and metadata["layers"] == 2
    assert (tmp_path / "report" / "ms2-continued.tar").is_file()
    # the runner's --positives reaches train and the command it writes down (lease.sh's seventh field)
    same_kind = run_variants.command_line("x", "set.parquet", "M", None, replace(TINY, positives="same-kind"), "M")
    assert "--positives same-kind" in same_kind and "--positives" not in result["command"]


def test_the_mass_allowance_counts_isotope_labels_and_halogen_clusters():
    from llm4ms.training.above_mass import heaviest_allowed, heaviest_ion

    assert heaviest_allowed("c1ccccc1") == 78 + 2.5
    assert heaviest_allowed("Clc1ccc(Br)cc1") == 190 + 2.5 + 4
    assert heaviest_allowed("[2H]C([2H])([2H])O[2H]") == 36 + 2.5
    assert heaviest_allowed(None, "InChI=1S/C6H6/c1-2-4-6-5-3-1/h1-6H") == 78 + 2.5  # the InChI when no SMILES
    assert heaviest_allowed("not a molecule") is None and heaviest_allowed(None) is None
    assert heaviest_ion([50.0, 100.0, 200.0], [1.0, 0.02, 0.005]) == 100.0


@pytest.fixture(scope="module")
def ei_mined(tmp_path_factory):
    spectra = _textualized(tmp_path_factory, "ei_library.msp")
    table, provenance, summary, _ = load_training_set(str(spectra), TINY, None)
    return table, provenance, summary, spectra


def test_mining_flags_ei_spectra_above_their_compounds_mass(ei_mined, mined):
    # MassBank files TMS derivatives under the plain compound: alpha-ketoglutaric acid (146 Da) with ions to
    # m/z 304 must be flagged, spectra of the same compound under one InChIKey must be judged one by one,
    # and MS/MS rows are not judged at all.
    from llm4ms.training.above_mass import heaviest_allowed

    table, _, summary, _ = ei_mined
    flags = dict(zip(table.column("id").to_pylist(), table.column("above_mass").to_pylist()))
    assert flags["MSBNK-MSSJ-MSJ00687"] is True
    names = dict(zip(table.column("id").to_pylist(), table.column("name").to_pylist()))
    assert "Ketoglutaric" in names["MSBNK-MSSJ-MSJ00687"]
    assert 0 < summary["ei_above_compound_mass"] == sum(flags.values()) < table.num_rows
    for row, flag in enumerate(table.column("above_mass").to_pylist()):  # each row by its own structure
        mz = np.array(table.column("mz")[row].as_py())
        intensities = np.array(table.column("intensities")[row].as_py())
        heaviest = mz[intensities >= 0.01 * intensities.max()].max()
        assert flag == (heaviest > heaviest_allowed(table.column("smiles")[row].as_py()))
    ms2_table, *_ = mined
    assert set(ms2_table.column("above_mass").to_pylist()) == {None}


def test_same_kind_positives_keep_above_mass_spectra_apart_from_ordinary_ones(ei_mined):
    # No compound of the bundled library mixes the kinds, so one spectrum of a three-spectrum compound is
    # marked the other kind: its two siblings must never be drawn as its positives (nor it as theirs) with
    # same-kind, while the default still draws them, and batches of the default stay what they were.
    import pyarrow as pa

    table, provenance, _, _ = ei_mined
    compounds = table.column("compound").to_pylist()
    rows = [r for r, c in enumerate(compounds) if compounds.count(c) == 3][:3]
    assert len(rows) == 3 and len({compounds[r] for r in rows}) == 1
    flags = table.column("above_mass").to_pylist()
    assert {flags[r] for r in rows} == {False}
    flags[rows[0]] = True
    mixed = table.set_column(table.column_names.index("above_mass"), "above_mass", pa.array(flags, pa.bool_()))
    same = Examples(mixed, provenance["textualization"], positives="same-kind")
    every = Examples(mixed, provenance["textualization"])
    assert same.set_aside == 4 and every.set_aside == 0
    assert same.positives[rows[0]] == [] and sorted(same.positives[rows[1]]) == [rows[2]]
    assert sorted(every.positives[rows[0]]) == rows[1:]

    def pairs(examples):
        drawn = set()
        for step in range(60):
            _, anchors, positives, _ = supervised_batch(examples, 0, step, 6, 0.0)
            drawn |= {(int(a), int(p)) for a, p in zip(anchors, positives)}
        return drawn

    unlike = {(rows[0], r) for r in rows[1:]} | {(r, rows[0]) for r in rows[1:]}
    assert pairs(every) & unlike and not pairs(same) & unlike
    plain = Examples(table.drop(["above_mass"]), provenance["textualization"])  # a set mined before the flags
    for ours, theirs in zip(supervised_batch(every, 3, 5, 6, 0.5), supervised_batch(plain, 3, 5, 6, 0.5)):
        assert list(ours) == list(theirs)


def test_train_draws_same_kind_positives_when_asked_and_says_so(cli, ei_mined, ms2_table, mined, tiny_model,
                                                                tmp_path):
    # The record must say same-kind (a stage drawing every positive keeps the record it always had), the
    # report counts what was set aside, and what cannot honour it is refused before any training.
    _, _, _, spectra = ei_mined
    args = ["--model", tiny_model, "--layers", "2", "--steps", "1", "--batch-size", "4", "--lora-r", "4"]
    result = cli("train", spectra, "-o", tmp_path / "kind", "--positives", "same-kind", *args)
    assert result.exit_code == 0, result.stderr
    assert "--positives same-kind: 0 same-compound positives of the other kind set aside" in result.stderr
    stage = json.loads((tmp_path / "kind" / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert stage["settings"]["positives"] == "same-kind"
    assert stage["training_set"]["positives_of_other_kind_set_aside"] == 0
    assert cli("train", spectra, "-o", tmp_path / "all", *args, "-q").exit_code == 0
    stage = json.loads((tmp_path / "all" / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert "positives" not in stage["settings"] and "positives_of_other_kind_set_aside" not in stage["training_set"]

    *_, saved = mined
    old = tmp_path / "old-set.parquet"
    pq.write_table(pq.read_table(saved).drop(["above_mass"]), old)  # a set mined before the flags existed
    for source, fragment in ((ms2_table, "no EI spectra"), (old, "mined without above-mass flags")):
        result = cli("train", source, "-o", tmp_path / "no", "--positives", "same-kind", *args, "-q")
        assert result.exit_code == 3 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "no").exists()


def test_train_resumes_only_its_own_run_and_says_what_a_stop_keeps(cli, ms2_table, mined, tiny_model, other_tiny_model,
                                                                   tmp_path, monkeypatch):
    # A checkpoint names the backbone, training file and start adapter it was made with; a resume with any
    # other is refused naming it (it mixed runs before). SIGTERM saves the step it ends and says how to go on;
    # --max-minutes is each run's own budget, so a resumed run goes on instead of stopping after one step.
    import llm4ms.training.loop as loop

    def fails(result, fragment):
        assert result.exit_code == 3 and fragment in result.stderr, result.stderr

    out = tmp_path / "a"
    args = ["--layers", "2", "--batch-size", "4", "--lora-r", "4", "--checkpoint-every", "100", "-q"]
    compute = _stopping_in_step(monkeypatch, "supervised", 1, _send(signal.SIGTERM))
    result = cli("train", ms2_table, "-o", out, "--model", tiny_model, "--steps", "6", *args)
    monkeypatch.setitem(loop.LOSSES, "supervised", compute)
    assert result.exit_code == 143 and "stopped by SIGTERM" in result.stderr, result.stderr
    assert f"the checkpoint in {out}.checkpoint is kept; the same command with --resume continues it" in result.stderr
    assert torch.load(tmp_path / "a.checkpoint" / loop.STATE, weights_only=False)["step"] == 2
    *_, saved = mined
    fails(cli("train", ms2_table, "-o", out, "--model", other_tiny_model, "--steps", "6", "--resume", *args),
          "checkpoint was made by a run with another backbone")
    fails(cli("train", saved, "-o", out, "--model", tiny_model, "--steps", "6", "--resume", *args),
          "another training file")
    fails(cli("train", ms2_table, "-o", out, "--model", tiny_model, "--steps", "7", "--lr", "1e-3", "--resume", *args),
          "another --lr, --steps")
    result = cli("train", ms2_table, "-o", out, "--model", tiny_model, "--steps", "6", "--resume", *args)
    assert result.exit_code == 0, result.stderr
    stage = json.loads((out / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert stage["steps_done"] == 6 and stage["anchors_per_step"] == 4
    assert stage["training_set"]["sha256"] == file_digest([ms2_table])
    assert stage["training_set"]["mining"] == {"positive_tanimoto": 0.8, "negative_tanimoto": 0.4, "hard_negatives": 8}
    lines = (out / "train_log.tsv").read_text().splitlines()
    assert float(lines[1].split("\t")[2]) == pytest.approx(2e-4 / 3)  # step 1 ran at the first of 3 warm-up rates

    # a time budget stops the run; the same command with --resume has a budget of its own and finishes it
    budget = ["--steps", "40", "--max-minutes", "0.001", "--model", tiny_model, *args]
    assert cli("train", ms2_table, "-o", tmp_path / "b", *budget).exit_code == 0
    first = torch.load(tmp_path / "b.checkpoint" / loop.STATE, weights_only=False)["step"]
    result = cli("train", ms2_table, "-o", tmp_path / "b", *budget[:2], "--max-minutes", "5", *budget[4:], "--resume")
    assert result.exit_code == 0, result.stderr
    done = json.loads((tmp_path / "b" / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert first < 40 and done["steps_done"] == done["steps_planned"] and not done["stopped_by_time_budget"]


def test_train_refuses_training_sets_it_cannot_learn_from(cli, ms2_table, mined, tiny_model, tmp_path):
    import pyarrow as pa

    *_, saved = mined
    table = pq.read_table(saved)
    args = ["--model", tiny_model, "--layers", "2", "--steps", "1", "--batch-size", "4", "--lora-r", "4", "-q"]

    def refused(source, fragment, *extra):
        result = cli("train", source, "-o", tmp_path / "no", *args, *extra)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 3 and len(lines) == 1 and fragment in lines[0], result.stderr
        assert not (tmp_path / "no").exists()

    pq.write_table(table.slice(0, 0), tmp_path / "empty.parquet")
    refused(tmp_path / "empty.parquet", "empty.parquet: no spectra to train on")
    pq.write_table(table.drop(["mz"]), tmp_path / "no-mz.parquet")
    refused(tmp_path / "no-mz.parquet", "no-mz.parquet: training set lacks columns mz")
    refused(saved, "already a training set", "--save-examples", tmp_path / "again.parquet")
    assert not (tmp_path / "again.parquet").exists()
    # one compound's spectra, as a spectra table: every step's loss would be 0 (its only negatives are itself)
    spectra = pq.read_table(ms2_table)
    keys = [k[:14] for k in spectra.column("inchikey").to_pylist()]
    repeated = next(k for k in keys if keys.count(k) >= 2)
    one = spectra.filter(pa.array([k == repeated for k in keys]))
    pq.write_table(one, tmp_path / "one.parquet")
    refused(tmp_path / "one.parquet", "spectra of 1 compound(s) with an InChIKey")


def test_train_keeps_what_is_not_its_adapter_and_says_what_it_takes_otherwise(cli, ms2_table, mined, tiny_model,
                                                                               tmp_path):
    import shutil

    *_, saved = mined
    args = ["--model", tiny_model, "--layers", "2", "--steps", "1", "--batch-size", "4", "--lora-r", "4", "-q"]

    def refused(fragment, *arguments):
        result = cli("train", *arguments, *args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 3 and len(lines) == 1 and fragment in lines[0], result.stderr

    out = tmp_path / "a"
    assert cli("train", ms2_table, "-o", out, *args).exit_code == 0
    # the new adapter replaces the folder: a table kept there (here the very input) would have gone with it
    shutil.copyfile(ms2_table, out / "library.parquet")
    refused("a: holds library.parquet beside its adapter", out / "library.parquet", "-o", out)
    assert (out / "library.parquet").exists()
    (out / "library.parquet").unlink()
    refused("--save-examples would go in the adapter folder", ms2_table, "-o", out,
            "--save-examples", out / "set.parquet")
    refused("--save-examples would go to the adapter folder", ms2_table, "-o", tmp_path / "same",
            "--save-examples", tmp_path / "same")
    assert not (tmp_path / "same").exists() and not (out / "set.parquet").exists()

    # a saved set's mining thresholds are the run's; asking for others would need it mined again
    assert cli("train", ms2_table, "-o", tmp_path / "m", "--negative-tanimoto", "0.3", "--positive-tanimoto", "0.9",
               "--save-examples", tmp_path / "set03.parquet", *args).exit_code == 0
    refused("mined with --negative-tanimoto 0.3; --negative-tanimoto 0.05 needs it mined again",
            tmp_path / "set03.parquet", "-o", tmp_path / "b", "--negative-tanimoto", "0.05")
    assert cli("train", tmp_path / "set03.parquet", "-o", tmp_path / "b", "--negative-tanimoto", "0.3",
               *args).exit_code == 0
    result = cli("train", tmp_path / "set03.parquet", "-o", tmp_path / "c", *args)
    assert result.exit_code == 0, result.stderr
    stage = json.loads((tmp_path / "c" / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert stage["settings"]["negative_tanimoto"] == stage["training_set"]["mining"]["negative_tanimoto"] == 0.3
    assert stage["settings"]["positive_tanimoto"] == 0.9
    assert (tmp_path / "b" / "adapter_model.safetensors").read_bytes() == (
        tmp_path / "c" / "adapter_model.safetensors").read_bytes()

    # what a step takes, when it is not what was asked, is said before the first step and recorded
    spectra = pq.read_table(saved).num_rows
    result = cli("train", saved, "-o", tmp_path / "d", *args[:-3], "--batch-size", "10000", "--stage", "simcse",
                 "--max-length", "16", "--new-text", "-q")
    assert result.exit_code == 0, result.stderr
    assert f"warning: {spectra} texts a step, not --batch-size 10000" in result.stderr
    assert f"warning: {spectra} of {spectra} training texts are longer than --max-length 16" in result.stderr
    assert "--new-text is ignored without --init-adapter" in result.stderr
    stage = json.loads((tmp_path / "d" / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert stage["texts_per_step"] == stage["texts_over_max_length"] == spectra
    stage = json.loads((out / "llm4ms_adapter.json").read_text())["stages"][-1]
    assert stage["anchors_per_step"] == 4 and "texts_over_max_length" not in stage
