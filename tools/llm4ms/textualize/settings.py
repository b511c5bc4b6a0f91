"""Textualization settings and their identity, which search compares between queries and library."""

from dataclasses import dataclass

from ..errors import InputError

AUTO = "auto"
EI = "ei"
PAPER_EI = "paper-ei"
MSMS = "msms"
TEMPLATES = (EI, PAPER_EI, MSMS)
EI_TEMPLATES = (EI, PAPER_EI)

# Which peaks a text keeps: the strongest (the paper's choice), or those the EI weighted cosine weighs
# most, m/z^3 · I^0.6 (Stein & Scott 1994): weak high-m/z peaks carry the molecular-ion region, and the
# 30 strongest lose them (benchmarks/RESULTS.md, "What the text keeps"). MS/MS texts keep the strongest.
STRONGEST = "strongest"
MZ_WEIGHTED = "mz-weighted"
PEAK_CHOICES = {STRONGEST: (0.0, 1.0), MZ_WEIGHTED: (3.0, 0.6)}

ABOVE_THRESHOLD = "above-threshold"

# Bumped whenever a template's text changes, so vectors of old texts are refused, not mixed.
TEMPLATES_VERSION = 2

DEFAULTS = {
    # The paper's peak choice in a compact text (~100 tokens instead of ~220: the encoder's cost grows
    # with tokens, and the labels carry no information beyond the order).
    EI: {"top_n": 30, "threshold": 0.005, "decimals": 0},
    # The paper's EI settings (Xu et al. 2025): ≥0.5 % relative intensity, 30 strongest, integer m/z, and
    # the closing max_peak the highest m/z above the threshold, kept or not (its code's rule; llm4ms before
    # 2026-11-29 wrote the highest kept one, and its tables, which lack the key, are refused beside these).
    PAPER_EI: {"top_n": 30, "threshold": 0.005, "decimals": 0, "highest": ABOVE_THRESHOLD},
    # MS/MS: fewer peaks and one decimal keep the text near 73 tokens (SmolLM2 writes one token per digit).
    MSMS: {"top_n": 20, "threshold": 0.005, "decimals": 1},
}


@dataclass(frozen=True)
class TextSettings:
    template: str = AUTO
    top_n: int | None = None
    threshold: float | None = None
    decimals: int | None = None
    peak_choice: str | None = None

    def for_template(self, name: str) -> dict:
        params = dict(DEFAULTS[name])
        if self.top_n is not None:
            params["top_n"] = self.top_n
        if self.threshold is not None:
            params["threshold"] = self.threshold
        if self.decimals is not None and name not in EI_TEMPLATES:  # EI texts are unit mass by definition
            params["decimals"] = self.decimals
        return _with_choice(name, params, self.peak_choice)

    def identity(self) -> dict:
        """What determines the text of a spectrum under either template; the mode itself is not part of
        it, since ``auto`` and an explicit template write the same text for the spectra they share."""
        return {"templates_version": TEMPLATES_VERSION,
                "templates": {name: self.for_template(name) for name in TEMPLATES}}


def differing_templates(first: dict, second: dict, templates) -> list[str]:
    """Of ``templates``, those whose texts the two textualization identities write differently: a table's
    texts depend on the settings of its own templates only, so two tables of msms texts made with the same
    msms settings share a space whatever their ei settings were. Every one when the template versions
    differ."""
    if first.get("templates_version") != second.get("templates_version"):
        return sorted(templates) or ["templates_version"]
    return sorted(t for t in templates if first["templates"].get(t) != second["templates"].get(t))


def _with_choice(name: str, params: dict, choice: str | None) -> dict:
    """``params`` of template ``name`` with ``choice`` recorded: only for EI templates and only when not the
    default, so texts of the strongest peaks keep the identity the shipped adapters were trained with, and
    an adapter refuses texts of the other choice."""
    params = {key: value for key, value in params.items() if key != "peak_choice"}
    if choice not in (None, STRONGEST) and name in EI_TEMPLATES:
        params["peak_choice"] = choice
    return params


def with_peak_choice(identity: dict, choice: str) -> dict:
    """A textualization identity with only the EI templates' peak choice changed."""
    return {**identity, "templates": {name: _with_choice(name, params, choice)
                                      for name, params in identity["templates"].items()}}


def second_view(identity: dict, choice: str, name: str) -> dict:
    """The identity of a second text view (embed and train --also-peak-choice), refused when it is the
    table's own: that would embed or train every text twice as itself."""
    other = with_peak_choice(identity, choice)
    if other == identity:
        raise InputError(f"{name}: its EI texts already keep the {choice} peaks; --also-peak-choice names the other "
                         "view", hint=f"pass one of {', '.join(sorted(set(PEAK_CHOICES) - {choice}))}")
    return other
