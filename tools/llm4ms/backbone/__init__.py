"""The language-model backbone: resolving --model and --adapter, converting GGUF, the LLM2Vec encoder."""

from .adapters import choose_adapter, resolve_adapter
from .resolve import DEFAULT_MODEL, ResolvedModel, resolve_model

__all__ = ["DEFAULT_MODEL", "ResolvedModel", "choose_adapter", "resolve_adapter", "resolve_model"]
