"""The LLM2Vec spectrum encoder: bidirectional attention, mean pooling, L2-normalised float32 vectors."""

import contextlib

import numpy as np

from ..errors import ModelError
from .resolve import ResolvedModel

# LLM2Vec splits "instruction<SEP>text" and pools over the text part only. Putting the separator first
# pools over the whole spectrum text; without it llm2vec's embed mask would be empty.
_SEPARATOR = "!@#$%^&*()"


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but torch sees no CUDA GPU",
                         hint="use --device cpu, or install a CUDA build of torch")
    return device


# --dtype values. "bf16-mixed" keeps float32 weights, norms and pooling and runs the matrix products in
# bfloat16 (torch autocast): twice the speed of float32 on a CPU with native bf16, and the numerics the
# shipped adapters were trained under (bf16 autocast on a GPU). Pure bfloat16 weights lose more (the
# residual stream is rounded too) for no further speed; benchmarks/RESULTS.md has the measurements.
DTYPES = ("auto", "float32", "bf16-mixed", "bfloat16", "float16")


def native_bf16(device: str) -> bool:
    import torch

    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    # Not torch.ops.mkldnn._is_mkldnn_bf16_supported(): it is true on any AVX-512 CPU, where oneDNN emulates
    # bf16 and embedding ran 2.5x slower than float32 (benchmarks/RESULTS.md, issue 6's ladder).
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def pick_dtype(dtype: str, device: str) -> str:
    """The resolved --dtype: auto is bf16-mixed where the device computes bf16 natively (CUDA, or a CPU
    with AVX512-BF16 or AMX), else float32, since emulated bf16 is slower than float32."""
    if dtype == "auto":
        return "bf16-mixed" if native_bf16(device) else "float32"
    return dtype


def weights_and_autocast(dtype: str, device: str):
    """(torch dtype of the weights, autocast context) for a resolved --dtype."""
    import torch

    if dtype == "bf16-mixed":
        return torch.float32, torch.autocast(device, dtype=torch.bfloat16)
    return getattr(torch, dtype), contextlib.nullcontext()


def import_peft():
    """peft, once torch.distributed.tensor is loaded: peft reads that attribute, which torch 2.13 only sets
    on import."""
    with contextlib.suppress(ImportError):
        import torch.distributed.tensor  # noqa: F401
    import peft

    return peft


def load_network(model: ResolvedModel, dtype, adapter_path: str | None = None, layers: int | None = None):
    """(bidirectional network, tokenizer, layers in the backbone): the adapter merged, then the layers cut.

    Later layers are dropped after merging, so an adapter trained on the first N layers loads either way.
    Shared by embedding and training, so both see exactly the same network.
    """
    from llm2vec import LLM2Vec
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # llm2vec's forward trips a deprecation notice on every load
    try:
        config = AutoConfig.from_pretrained(model.path)
        model_class = LLM2Vec._get_model_class(type(config).__name__, enable_bidirectional=True)
        tokenizer = AutoTokenizer.from_pretrained(model.path)
        network = model_class.from_pretrained(model.path, torch_dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{model.name}: cannot load model from {model.path} ({exc})") from exc
    if adapter_path:
        network = import_peft().PeftModel.from_pretrained(network, adapter_path).merge_and_unload()
    total = len(network.layers)
    if layers is not None:
        if not 1 <= layers <= total:
            raise ModelError(f"--layers {layers}: {model.name} has {total} layers")
        network.layers = network.layers[:layers]
        network.config.num_hidden_layers = layers
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer.padding_side = "left"  # llm2vec's pooling assumes left padding
    return network, tokenizer, total


def llm2vec_wrapper(network, tokenizer, max_length: int):
    from llm2vec import LLM2Vec

    return LLM2Vec(network, tokenizer, pooling_mode="mean", max_length=max_length, skip_instruction=True)


def with_separator(texts: list[str]) -> list[str]:
    return [_SEPARATOR + text for text in texts]


class SpectrumEncoder:
    def __init__(self, model: ResolvedModel, adapter_path: str | None = None, adapter: dict | None = None,
                 device: str = "auto", dtype: str = "auto", layers: int | None = None, max_length: int = 512):
        import torch

        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        weights, self.autocast = weights_and_autocast(self.dtype, self.device)
        network, tokenizer, total = load_network(model, weights, adapter_path, layers)
        self.encoder = llm2vec_wrapper(network.to(self.device).eval(), tokenizer, max_length)
        self.tokenizer = tokenizer
        self.torch = torch
        self.record = {
            "name": model.name, "fingerprint": model.fingerprint, "adapter": adapter,
            "layers": layers or total, "total_layers": total, "pooling": "mean", "max_length": max_length,
            "dim": int(network.config.hidden_size), "encoder": "llm2vec-bidirectional",
        }
        self.truncated = 0
        self.encoded = 0  # texts encoded by this process (a resumed run also writes earlier chunks)
        self._warm_up()

    def _warm_up(self) -> None:
        # On a CPU, the first forward pass of a process sometimes computes the rotary cosine table inaccurately
        # (up to 1.5e-4; seen in 5 of 54 fresh processes, every later pass exact), so one throw-away pass keeps
        # a run's first batch, and a resumed run's bytes, equal to every other run's.
        with self.torch.inference_mode(), self.autocast:
            self._forward(["0"])

    def _forward(self, texts: list[str]):
        """Pooled, unnormalised vectors of one batch; the warm-up and encode share it so they take one path."""
        features = self.encoder.tokenize(with_separator(texts))
        return self.encoder.forward({k: v.to(self.device) for k, v in features.items()})

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def encode(self, texts: list[str], batch_size: int, progress=None) -> np.ndarray:
        """Vectors in input order. Batches are formed from length-sorted texts to waste little padding."""
        lengths = self.token_lengths(texts)
        self.truncated += sum(n > self.encoder.max_length for n in lengths)
        self.encoded += len(texts)
        order = np.argsort(-np.asarray(lengths), kind="stable")
        out = np.empty((len(texts), self.record["dim"]), dtype=np.float32)
        with self.torch.inference_mode(), self.autocast:
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                vectors = self._forward([texts[i] for i in rows]).float()
                vectors = self.torch.nn.functional.normalize(vectors, dim=-1)
                out[rows] = vectors.cpu().numpy()
                if progress is not None:
                    progress.update(len(rows))
        return out
