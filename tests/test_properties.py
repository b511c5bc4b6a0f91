"""Property-based checks of the readers and templates: any spectrum matchms accepts is either textualized or
rejected with a reason (never a crash), and textualize → Parquet → read back loses nothing."""

import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from matchms import Spectrum
from matchms.exporting import save_as_mgf

from llm4ms.errors import InputError
from llm4ms.steps.textualize import textualize_files
from llm4ms.textualize import TextSettings

# 40 new examples per run (seconds); LLM4MS_HYPOTHESIS_EXAMPLES=2000 for a longer search.
SETTINGS = settings(max_examples=int(os.environ.get("LLM4MS_HYPOTHESIS_EXAMPLES", 40)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

masses = st.floats(min_value=1.0, max_value=2000.0, allow_nan=False, allow_infinity=False)
intensities = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def spectra(draw):
    """Spectra as matchms builds them: sorted distinct m/z, any finite non-negative intensities (zeros
    included, which llm4ms drops), with or without a precursor m/z and an MS level."""
    mz = sorted(draw(st.sets(masses, min_size=1, max_size=60)))
    values = draw(st.lists(intensities, min_size=len(mz), max_size=len(mz)))
    metadata = {"compound_name": draw(st.text(st.characters(min_codepoint=48, max_codepoint=122), max_size=12)),
                "spectrum_id": "s1"}
    if draw(st.booleans()):
        metadata["precursor_mz"] = draw(st.floats(min_value=10.0, max_value=2000.0))
        metadata["ms_level"] = "2"
    return Spectrum(mz=np.asarray(mz, dtype=float), intensities=np.asarray(values, dtype=float),
                    metadata=metadata)


def _textualize(spectrum, folder: Path, template: str = "auto"):
    """(table, None) or (None, the error) for one spectrum written to MGF by matchms and read by llm4ms."""
    mgf = folder / "one.mgf"
    mgf.unlink(missing_ok=True)
    save_as_mgf([spectrum], str(mgf))
    out = folder / "one.parquet"
    try:
        textualize_files([str(mgf)], str(out), TextSettings(template))
    except InputError as exc:
        return None, exc
    return pq.read_table(out), None


@SETTINGS
@given(spectra())
@example(Spectrum(mz=np.array([1.0, 2.0]), intensities=np.array([5e-324, 1e9]), metadata={"spectrum_id": "s1"}))
def test_every_spectrum_is_textualized_or_rejected_with_its_reason(spectrum):
    with tempfile.TemporaryDirectory() as folder:
        table, error = _textualize(spectrum, Path(folder))
    usable = (spectrum.peaks.intensities > 0).any()
    if usable:
        assert error is None, error
        assert table.num_rows == 1
        row = table.to_pylist()[0]
        assert row["text"] and row["template"] == ("msms" if "precursor_mz" in spectrum.metadata else "ei")
        assert all(i > 0 for i in row["intensities"])  # zero-intensity peaks dropped, nothing else
        intensities = spectrum.peaks.intensities
        kept = spectrum.peaks.mz[intensities / intensities.max() > 0]  # zero relative to the base peak, too
        assert np.allclose(row["mz"], kept)
    else:
        assert table is None and "1 rejected" in str(error) and "all intensities are zero" in str(error)


@SETTINGS
@given(spectra())
def test_textualize_parquet_read_back_is_lossless(spectrum):
    """A spectra table textualized again gives the same rows: peaks, texts, ids, structures, metadata."""
    if not (spectrum.peaks.intensities > 0).any():
        return
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        first, error = _textualize(spectrum, folder)
        assert error is None, error
        again = folder / "again.parquet"
        textualize_files([str(folder / "one.parquet")], str(again), TextSettings())
        second = pq.read_table(again)
    columns = [c for c in first.column_names if c not in ("source_file", "source_index")]
    assert first.select(columns).to_pylist() == second.select(columns).to_pylist()


@SETTINGS
@given(spectra(), st.sampled_from(["ei", "paper-ei", "msms"]))
def test_every_template_writes_a_text_or_says_why_not(spectrum, template):
    with tempfile.TemporaryDirectory() as folder:
        table, error = _textualize(spectrum, Path(folder), template)
    if table is not None:
        text = table.column("text")[0].as_py()
        assert text and "nan" not in text.lower()
    else:
        assert "1 rejected" in str(error)
        reason = str(error)
        assert ("precursor" in reason and template == "msms") or "all intensities are zero" in reason, reason
