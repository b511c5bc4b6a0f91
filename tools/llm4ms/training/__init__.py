"""Training the spectrum encoder: LoRA stages on the LLM2Vec backbone (mntp, simcse, supervised)."""

from .settings import LOSSES, STAGES, TrainSettings

__all__ = ["LOSSES", "STAGES", "TrainSettings"]
