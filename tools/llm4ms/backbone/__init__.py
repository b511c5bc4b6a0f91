"""The language-model backbone: resolving --model, converting GGUF, and the LLM2Vec spectrum encoder."""

from .resolve import DEFAULT_MODEL, ResolvedModel, resolve_adapter, resolve_model

__all__ = ["DEFAULT_MODEL", "ResolvedModel", "resolve_adapter", "resolve_model"]
