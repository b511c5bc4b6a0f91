"""Training the spectrum encoder: LoRA stages on the LLM2Vec backbone (mntp, simcse, supervised)."""

from .settings import DTYPES, LOSSES, POSITIVES, STAGES, TrainSettings

__all__ = ["DTYPES", "LOSSES", "POSITIVES", "STAGES", "TrainSettings"]
