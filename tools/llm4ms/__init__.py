"""llm4ms: identify compounds from mass spectra with embeddings from a large language model."""

__version__ = "0.1.0"
