"""GGUF → Hugging Face checkpoint for llama-architecture models.

transformers 4.44 cannot dequantize Q4_1 (the default backbone's quantization), and its GGUF tokenizer
converter only knows SentencePiece vocabularies, while SmolLM2 has a GPT-2 style byte-level BPE. The
weights are therefore dequantized with ``gguf.quants.dequantize`` and the byte-level tokenizer is
rebuilt from the GGUF vocabulary and merges with the ``tokenizers`` library.
"""

import json
from pathlib import Path

import numpy as np

from ..errors import ModelError

_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def _field(reader, key, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    from gguf import GGUFValueType

    kind = field.types[0]
    if kind == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    if kind == GGUFValueType.ARRAY:
        if field.types[-1] == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    return field.parts[field.data[0]].tolist()[0]


def _unpermute(weights: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's rotary-embedding row permutation of the q/k projections."""
    rows = weights.shape[0]
    return weights.reshape(heads, rows // heads // 2, 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _hf_name(gguf_name: str) -> str | None:
    stem, _, suffix = gguf_name.rpartition(".")
    parts = stem.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{suffix}"
    if stem in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[stem]}.{suffix}"
    return None


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    import gguf
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig

    try:
        reader = gguf.GGUFReader(str(gguf_path))
    except Exception as exc:
        raise ModelError(f"{gguf_path}: not a readable GGUF file ({exc})") from exc
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ModelError(f"{gguf_path}: GGUF architecture '{arch}' is not supported; llm4ms converts 'llama' GGUF "
                         "files", hint="pass a Hugging Face folder for other architectures")
    heads = _field(reader, "llama.attention.head_count")
    kv_heads = _field(reader, "llama.attention.head_count_kv", heads)
    tensors = {}
    for tensor in reader.tensors:
        name = _hf_name(tensor.name)
        if name is None:
            raise ModelError(f"{gguf_path}: unexpected tensor {tensor.name}")
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        values = values.reshape([int(n) for n in reversed(tensor.shape.tolist())])
        if ".q_proj." in name:
            values = _unpermute(values, heads)
        elif ".k_proj." in name:
            values = _unpermute(values, kv_heads)
        tensors[name] = torch.from_numpy(np.ascontiguousarray(values))
    tied = "lm_head.weight" not in tensors
    vocab = _field(reader, "tokenizer.ggml.tokens")
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=_field(reader, "llama.embedding_length"),
        intermediate_size=_field(reader, "llama.feed_forward_length"),
        num_hidden_layers=_field(reader, "llama.block_count"),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=_field(reader, "llama.context_length", 2048),
        rms_norm_eps=_field(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5),
        rope_theta=_field(reader, "llama.rope.freq_base", 10000.0),
        bos_token_id=_field(reader, "tokenizer.ggml.bos_token_id"),
        eos_token_id=_field(reader, "tokenizer.ggml.eos_token_id"),
        pad_token_id=_field(reader, "tokenizer.ggml.padding_token_id"),
        tie_word_embeddings=tied,
        architectures=["LlamaForCausalLM"],
        torch_dtype="float32",
    )
    config._name_or_path = _field(reader, "general.name", gguf_path.stem)
    config.save_pretrained(out_dir)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _tokenizer(reader, gguf_path).save_pretrained(out_dir)
    (out_dir / "llm4ms_source.json").write_text(json.dumps({"gguf": gguf_path.name}) + "\n")


def _tokenizer(reader, gguf_path: Path):
    from transformers import PreTrainedTokenizerFast

    model = _field(reader, "tokenizer.ggml.model")
    tokens = _field(reader, "tokenizer.ggml.tokens")
    special = {}
    for key in ("bos", "eos", "unknown", "padding"):
        token_id = _field(reader, f"tokenizer.ggml.{key}_token_id")
        if token_id is not None:
            special[{"unknown": "unk", "padding": "pad"}.get(key, key) + "_token"] = tokens[token_id]
    if model == "gpt2":
        backend = _byte_level_bpe(reader, tokens)
    else:
        from transformers.integrations.ggml import convert_gguf_tokenizer
        from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

        try:
            backend = convert_gguf_tokenizer("llama", load_gguf_checkpoint(str(gguf_path))["tokenizer"])
        except Exception as exc:
            raise ModelError(f"{gguf_path}: cannot convert its '{model}' tokenizer ({exc})") from exc
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_input_names=["input_ids", "attention_mask"],
                                        **special)
    template = _field(reader, "tokenizer.chat_template")
    if template:
        tokenizer.chat_template = template
    return tokenizer


def _byte_level_bpe(reader, tokens):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    pre = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    # llama.cpp's "smollm" pre-tokenizer splits numbers into single digits, as SmolLM2 was trained.
    if _field(reader, "tokenizer.ggml.pre") == "smollm":
        pre.insert(0, pre_tokenizers.Digits(individual_digits=True))
    backend.pre_tokenizer = pre_tokenizers.Sequence(pre)
    backend.decoder = decoders.ByteLevel()
    kinds = _field(reader, "tokenizer.ggml.token_type") or []
    control = [AddedToken(tokens[i], special=True, normalized=False) for i, k in enumerate(kinds) if k == 3]
    backend.add_special_tokens(control)
    return backend
