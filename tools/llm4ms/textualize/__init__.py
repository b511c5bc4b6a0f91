"""Spectrum → text: small pure functions, one per template, and the rule that picks one per spectrum."""

from .settings import AUTO, TEMPLATES, TextSettings
from .templates import choose_template, second_view_texts, text_with_params, texts_of_rows, textualize

__all__ = ["AUTO", "TEMPLATES", "TextSettings", "choose_template", "second_view_texts", "text_with_params",
           "texts_of_rows", "textualize"]
