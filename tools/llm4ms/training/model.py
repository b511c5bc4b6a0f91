"""The backbone under training: the embedding network of llm4ms embed, with fresh LoRA weights on it."""

import torch

from ..backbone.encoder import import_peft, llm2vec_wrapper, load_network, pick_dtype, weights_and_autocast
from ..errors import ModelError
from .settings import DTYPES, TrainSettings


def layer_modules(layers: int, targets) -> str:
    """PEFT's target_modules as a pattern naming only the trained layers, so the saved adapter also loads
    cleanly onto the whole backbone before llm4ms embed drops the later layers."""
    numbers = "|".join(str(i) for i in range(layers))
    return rf"(.*\.)?layers\.({numbers})\.(self_attn|mlp)\.({'|'.join(targets)})"


class TrainableEncoder:
    def __init__(self, resolved, settings: TrainSettings, init_adapter: str | None, device: str,
                 dtype: str = "auto"):
        peft = import_peft()
        self.dtype = pick_dtype(dtype, device)
        if self.dtype not in DTYPES:
            raise ModelError(f"--dtype {self.dtype}: training keeps float32 weights",
                             hint="use --dtype bf16-mixed or float32")

        torch.manual_seed(settings.seed)
        # fp32 master weights; with bf16-mixed (auto on CUDA and on CPUs with native bf16) the forward runs
        # under bf16 autocast, as embed's does by default.
        network, self.tokenizer, self.total_layers = load_network(resolved, torch.float32, init_adapter,
                                                                  settings.layers)
        self.layers = len(network.layers)
        if settings.stage == "simcse":
            network.config.attention_dropout = settings.dropout  # the two views differ by dropout
            for layer in network.layers:
                layer.self_attn.attention_dropout = settings.dropout
        config = peft.LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                            target_modules=layer_modules(self.layers, settings.lora_targets), bias="none")
        self.network = peft.get_peft_model(network, config).to(device)
        self.wrapper = llm2vec_wrapper(self.network, self.tokenizer, settings.max_length)
        self.device = device
        self.autocast = weights_and_autocast(self.dtype, device)[1]
        self.mask_id = self.tokenizer.convert_tokens_to_ids("_")  # llm2vec's mask token for Llama models

    def parameters(self):
        return [p for p in self.network.parameters() if p.requires_grad]

    def features(self, texts: list[str]) -> dict:
        """llm2vec's tokenize, in two batched tokenizer calls instead of one call per text (the per-text
        loop costs more than the forward pass of a GPU step); test_training checks they agree."""
        features = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                  max_length=self.wrapper.max_length)
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False, truncation=True,
                                                      max_length=self.wrapper.max_length)["input_ids"]]
        embed_mask = torch.zeros_like(features["attention_mask"])
        for row, length in enumerate(lengths):
            if length:
                embed_mask[row, -length:] = 1
        features["embed_mask"] = embed_mask
        return {k: v.to(self.device) for k, v in features.items()}

    def over_length(self, texts: list[str]) -> int:
        """How many of ``texts`` `features` cuts."""
        return sum(len(ids) > self.wrapper.max_length for ids in self.tokenizer(texts)["input_ids"])

    def embed(self, texts: list[str]):
        with self.autocast:
            return self.wrapper.forward(self.features(texts)).float()

    def hidden_states(self, features: dict):
        inputs = {k: v for k, v in features.items() if k != "embed_mask"}
        with self.autocast:
            return self.network(**inputs).last_hidden_state

    def output_weights(self):
        return self.network.get_base_model().embed_tokens.weight  # tied input and output embeddings
