"""Training the spectrum encoder: LoRA stages on the LLM2Vec backbone (mntp, simcse, supervised)."""

from .settings import DTYPES, LOSSES, STAGES, TrainSettings

__all__ = ["DTYPES", "LOSSES", "STAGES", "TrainSettings"]
