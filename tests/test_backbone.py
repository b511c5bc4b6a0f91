"""The backbone: GGUF conversion (exact on a tiny model, end to end on the real default model)."""

import gguf
import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from llm4ms.backbone import resolve_model
from llm4ms.backbone.gguf_convert import _field
from llm4ms.errors import ModelError

_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}


def llama_cpp_permute(weights, heads):
    """llama.cpp's convert_hf_to_gguf permutation of q/k rows, which the converter must undo."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(
        weights.shape)


def write_gguf(model_dir, source_gguf, path):
    model = LlamaForCausalLM.from_pretrained(model_dir)
    config = model.config
    source = gguf.GGUFReader(str(source_gguf))
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-test-llama")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(_field(source, "tokenizer.ggml.tokens"))
    writer.add_token_types(_field(source, "tokenizer.ggml.token_type"))
    writer.add_token_merges(_field(source, "tokenizer.ggml.merges"))
    writer.add_bos_token_id(_field(source, "tokenizer.ggml.bos_token_id"))
    writer.add_eos_token_id(_field(source, "tokenizer.ggml.eos_token_id"))
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to the input embedding, as in SmolLM2
        values = tensor.numpy().astype(np.float32)
        if name == "model.embed_tokens.weight":
            target = "token_embd.weight"
        elif name == "model.norm.weight":
            target = "output_norm.weight"
        else:
            _, _, layer, *rest = name.split(".")
            module = ".".join(rest[:-1])
            target = f"blk.{layer}.{_NAMES[module]}.weight"
            if module == "self_attn.q_proj":
                values = llama_cpp_permute(values, config.num_attention_heads)
            elif module == "self_attn.k_proj":
                values = llama_cpp_permute(values, config.num_key_value_heads)
        writer.add_tensor(target, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


def test_gguf_conversion_is_exact_for_float_tensors(tmp_path, tiny_model, smollm2_gguf):
    original = write_gguf(tiny_model, smollm2_gguf, tmp_path / "tiny.gguf")
    resolved = resolve_model(str(tmp_path / "tiny.gguf"))
    converted = LlamaForCausalLM.from_pretrained(resolved.path)
    assert converted.config.tie_word_embeddings
    for name, tensor in original.state_dict().items():
        assert torch.equal(converted.state_dict()[name], tensor), name
    text = "MS2 precursor 188.1 peaks: 160.1 119.1"
    assert AutoTokenizer.from_pretrained(resolved.path)(text)["input_ids"] == \
        AutoTokenizer.from_pretrained(tiny_model)(text)["input_ids"]
    # A second resolve finds the cached copy: same folder, same fingerprint.
    assert resolve_model(str(tmp_path / "tiny.gguf")) == resolved


def test_gguf_of_another_architecture_is_refused(tmp_path):
    writer = gguf.GGUFWriter(str(tmp_path / "x.gguf"), "bert")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelError, match="architecture 'bert' is not supported"):
        resolve_model(str(tmp_path / "x.gguf"))


def test_model_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no \\*.safetensors"):
        resolve_model(str(tmp_path))


def test_two_processes_preparing_the_default_backbone_at_once(tmp_path):
    """Two jobs starting together on a fresh node (empty cache): both succeed, one good copy is left, no
    half-converted folder."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache"
    env = dict(os.environ, LLM4MS_CACHE=str(cache))
    code = ("from llm4ms.backbone import resolve_model; m = resolve_model('smollm2-135m'); "
            "print(m.path, m.fingerprint)")
    jobs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [job.communicate(timeout=900) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], [err for _, err in outputs]
    assert len({out.strip() for out, _ in outputs}) == 1  # the same folder and fingerprint for both
    entries = sorted(p.name for p in (cache / "models").iterdir())
    copies = [name for name in entries if not name.startswith(".")]
    assert len(copies) == 1 and entries == [f".{copies[0]}.lock", copies[0]]  # no temporary folder left
    folder = cache / "models" / copies[0]
    assert (folder / ".llm4ms-complete").exists() and (folder / "config.json").exists()


def test_a_build_killed_outright_leaves_nothing_behind_for_long(tmp_path, monkeypatch):
    # SIGKILL, an out-of-memory kill or a wall-time limit leaves the work folder no handler removed (up to
    # 520 MB): the next build under the lock removes it, and so does any run that finds the copy complete.
    from llm4ms.backbone.cache import COMPLETE, prepared

    monkeypatch.setenv("LLM4MS_CACHE", str(tmp_path))
    models = tmp_path / "models"
    (models / ".m-1.killed1").mkdir(parents=True)
    (models / ".m-1.killed1" / "model.safetensors").write_bytes(b"half")
    built = []
    folder = prepared("m-1", lambda out: built.append((out / "config.json").write_text("{}")))
    assert len(built) == 1 and (folder / COMPLETE).exists()
    assert sorted(p.name for p in models.iterdir()) == [".m-1.lock", "m-1"]
    (models / ".m-1.killed2").mkdir()
    (models / ".m-10.building").mkdir()  # another key's build in progress is not ours to remove
    assert prepared("m-1", lambda out: built.append(out)) == folder and len(built) == 1
    assert sorted(p.name for p in models.iterdir()) == [".m-1.lock", ".m-10.building", "m-1"]


def test_an_unwritable_model_cache_is_named_with_what_to_do(cli, tmp_path, monkeypatch, data):
    from llm4ms.backbone.cache import prepared

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("LLM4MS_CACHE", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(ModelError, match="cannot write the model cache") as caught:
        prepared("m-1", lambda out: None)
    assert "LLM4MS_CACHE" in caught.value.hint
    assert cli("textualize", "-q", data / "ei_queries.msp", "-o", tmp_path / "q.parquet").exit_code == 0
    result = cli("embed", "-q", tmp_path / "q.parquet", "-o", tmp_path / "q.emb.parquet")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 5 and len(lines) == 1 and "[E_MODEL]" in lines[0] and "LLM4MS_CACHE" in lines[0]
    assert not (tmp_path / "q.emb.parquet").exists()
