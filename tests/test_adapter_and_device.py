"""--adapter (a PEFT LoRA folder), --layers, --device and --dtype, through the embed command."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory, tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaModel

    torch.manual_seed(3)
    model = get_peft_model(LlamaModel.from_pretrained(tiny_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    folder = tmp_path_factory.mktemp("adapter") / "tiny-lora"
    model.save_pretrained(folder)
    return folder


def vectors(path):
    return np.asarray(pq.read_table(path).column("embedding").to_pylist(), dtype=np.float32)


def model_record(path):
    return json.loads(pq.read_schema(path).metadata[b"llm4ms"])["model"]


def test_adapter_changes_vectors_and_is_recorded(cli, data, tmp_path, tiny_model, tiny_adapter):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    assert cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "bare.parquet", "--model", tiny_model
               ).exit_code == 0
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "lora.parquet", "--model", tiny_model,
                 "--adapter", tiny_adapter)
    assert result.exit_code == 0, result.stderr
    assert not np.allclose(vectors(tmp_path / "bare.parquet"), vectors(tmp_path / "lora.parquet"), atol=1e-4)
    adapter = model_record(tmp_path / "lora.parquet")["adapter"]
    assert adapter["name"] == "tiny-lora" and adapter["peft_type"] == "LORA" and adapter["r"] == 4
    assert len(adapter["fingerprint"]) == 64
    cli("build-index", tmp_path / "lora.parquet", "-o", tmp_path / "lora.index")
    result = cli("search", "-q", tmp_path / "bare.parquet", tmp_path / "lora.index", "-o", tmp_path / "hits.tsv")
    assert result.exit_code == 4 and "no adapter" in result.stderr and "adapter tiny-lora" in result.stderr


def test_layers_truncate_the_encoder(cli, data, tmp_path, tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    assert cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "l1.parquet", "--model", tiny_model,
               "--layers", "1").exit_code == 0
    record = model_record(tmp_path / "l1.parquet")
    assert record["layers"] == 1 and record["total_layers"] == 2
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "l5.parquet", "--model", tiny_model,
                 "--layers", "5")
    assert result.exit_code == 5 and "has 2 layers" in result.stderr


def test_not_an_adapter_folder(cli, data, tmp_path, tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "x.parquet", "--model", tiny_model,
                 "--adapter", tmp_path)
    assert result.exit_code == 5 and "not a PEFT adapter folder" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_cuda_without_gpu_says_so(cli, data, tmp_path, tiny_model):
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "x.parquet", "--model", tiny_model,
                 "--device", "cuda")
    assert result.exit_code == 5 and "torch sees no CUDA GPU" in result.stderr
    assert not (tmp_path / "x.parquet").exists()


def embed_step(path):
    history = json.loads(pq.read_schema(path).metadata[b"llm4ms"])["history"]
    return next(step for step in history if step["step"] == "embed")["parameters"]


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "float32")])
def test_dtype_auto_follows_the_hardware(cli, data, tmp_path, tiny_model, monkeypatch, native, expected):
    """auto takes bf16-mixed only where bf16 is native: emulated bf16 would be slower than float32."""
    import llm4ms.backbone.encoder as encoder

    monkeypatch.setattr(encoder, "native_bf16", lambda device: native)
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "e.parquet", "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert embed_step(tmp_path / "e.parquet")["dtype"] == expected


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU's flags from Linux")
def test_native_bf16_is_the_cpus_bf16_instructions_not_avx512():
    # oneDNN calls bf16 supported on any AVX-512 CPU and emulates it there, 2.5x slower than float32: auto must
    # ask for the instructions themselves.
    from llm4ms.backbone.encoder import native_bf16

    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert native_bf16("cpu") == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_bf16_mixed_vectors_are_close_to_float32_and_search_together(cli, data, tmp_path, tiny_model):
    """The dtype changes rounding, not the vectors' identity: a bf16-mixed query finds itself in a float32
    index, and the two runs agree to bf16 precision."""
    cli("textualize", "-q", data / "ms2_queries.mgf", "-o", tmp_path / "q.parquet")
    for dtype in ("float32", "bf16-mixed"):
        result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / f"{dtype}.parquet", "--model",
                     tiny_model, "--dtype", dtype)
        assert result.exit_code == 0, result.stderr
        assert embed_step(tmp_path / f"{dtype}.parquet")["dtype"] == dtype
    exact, mixed = vectors(tmp_path / "float32.parquet"), vectors(tmp_path / "bf16-mixed.parquet")
    cosines = np.sum(exact * mixed, axis=1)
    assert cosines.min() > 0.99 and not np.array_equal(exact, mixed)
    cli("build-index", tmp_path / "float32.parquet", "-o", tmp_path / "f.index")
    result = cli("search", "-q", tmp_path / "bf16-mixed.parquet", tmp_path / "f.index", "-o", tmp_path / "h.parquet",
                 "--format", "parquet", "--group", "spectrum", "--top-k", "1")
    assert result.exit_code == 0, result.stderr
    hits = pq.read_table(tmp_path / "h.parquet")
    assert hits.column("query_id").to_pylist() == hits.column("library_id").to_pylist()
