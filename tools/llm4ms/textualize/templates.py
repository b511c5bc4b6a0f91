"""The templates. Each is a pure function of peaks (and precursor) to text."""

from .peaks import format_mz, kept_peaks, peaks_above
from .settings import ABOVE_THRESHOLD, AUTO, EI, MSMS, PAPER_EI, PEAK_CHOICES, STRONGEST, TextSettings

PAPER_PREFIX = "Instruction: This is a mass spectra:  Key Peaks: "


def paper_ei_text(peaks: list[tuple[float, float]], highest: float) -> str:
    """The LLM4MS paper's text: base_peak, two max_peak, extra_peaks, then max_peak@``highest``, which the
    paper's code takes over every peak above the threshold, before the cut to the strongest: the
    molecular-ion region, whose weak peaks the cut often drops."""
    labels = []
    for rank, (mz, _) in enumerate(peaks):
        kind = "base_peak" if rank == 0 else "max_peak" if rank < 3 else "extra_peak"
        labels.append(f"{kind}@{format_mz(mz, 0)}")
    labels.append(f"max_peak@{format_mz(highest, 0)}")
    return PAPER_PREFIX + ",".join(labels)


def ei_text(peaks: list[tuple[float, float]]) -> str:
    """The paper's peaks, strongest first, as bare integers after the highest m/z (the molecular-ion
    region the paper marks with a second max_peak)."""
    highest = format_mz(max(mz for mz, _ in peaks), 0)
    return f"EI highest {highest} peaks: " + " ".join(format_mz(mz, 0) for mz, _ in peaks)


def msms_text(peaks: list[tuple[float, float]], precursor_mz: float, decimals: int) -> str:
    fragments = " ".join(format_mz(mz, decimals) for mz, _ in peaks)
    return f"MS2 precursor {format_mz(precursor_mz, decimals)} peaks: {fragments}"


def choose_template(settings: TextSettings, precursor_mz: float | None, ms_level: int | None) -> str:
    """Auto: MS/MS when there is a precursor and the spectrum is not marked MS1; compact EI otherwise."""
    if settings.template != AUTO:
        return settings.template
    if precursor_mz is not None and ms_level != 1:
        return MSMS
    return EI


def textualize(mz, intensities, precursor_mz: float | None, template: str, settings: TextSettings):
    """Return (text, None) or (None, reason)."""
    return text_with_params(mz, intensities, precursor_mz, template, settings.for_template(template))


def text_with_params(mz, intensities, precursor_mz: float | None, template: str, params: dict):
    """``textualize`` with the template's parameters as recorded in a table's textualization identity."""
    above, relative = peaks_above(mz, intensities, params["threshold"], params["decimals"])
    peaks = kept_peaks(above, relative, params["top_n"], PEAK_CHOICES[params.get("peak_choice", STRONGEST)])
    if not peaks:
        return None, "no peak above the relative-intensity threshold"
    if template == EI:
        return ei_text(peaks), None
    if template == PAPER_EI:
        if params.get("highest") == ABOVE_THRESHOLD:
            highest = float(above[-1])  # ascending m/z
        else:  # tables of an earlier llm4ms, whose identity names no rule: the highest kept peak
            highest = max(m for m, _ in peaks)
        return paper_ei_text(peaks, highest), None
    if template == MSMS:
        if precursor_mz is None:
            return None, "no precursor m/z (the msms template needs one)"
        return msms_text(peaks, precursor_mz, params["decimals"]), None
    raise ValueError(f"unknown template {template}")


def texts_of_rows(rows, params: dict) -> list[tuple[str | None, str | None]]:
    """``text_with_params`` for each row of an llm4ms spectra table or record batch, from the row's own
    peaks, with ``params`` the settings per template (a textualization identity's ``templates``)."""
    columns = (rows.column(name).to_pylist() for name in ("mz", "intensities", "precursor_mz", "template"))
    return [text_with_params(mz, intensities, precursor, template, params[template])
            for mz, intensities, precursor, template in zip(*columns)]


def second_view_texts(rows, texts: list[str], params: dict) -> list[str]:
    """The texts ``params`` (template → settings) write from the rows' own peaks, for a second view of each
    spectrum; a row they cannot write (only a stricter setting could refuse what the first one wrote) keeps
    its own text from ``texts``."""
    return [second or text for text, (second, _) in zip(texts, texts_of_rows(rows, params))]
