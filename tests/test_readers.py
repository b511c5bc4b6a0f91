from pathlib import Path

import pytest
from matchms.exporting import save_as_json
from matchms.importing import load_from_mgf

from llm4ms.errors import InputError
from llm4ms.spectra import Rejected, SourcedSpectrum, detect_format, read_spectra
from llm4ms.spectra.fields import compound_fields, spectrum_id


def read_all(path: Path, fmt=None):
    return list(read_spectra(path, path.name, fmt or detect_format(path, path.name)))


def test_msp_reads_every_record_with_ids_and_structures(data):
    items = read_all(data / "ei_library.msp")
    records = [line for line in (data / "ei_library.msp").read_text().splitlines() if line.startswith("DB#:")]
    assert len(items) == len(records) == 40
    assert all(isinstance(i, SourcedSpectrum) for i in items)
    first = items[0].spectrum.metadata
    assert spectrum_id(first, None).startswith("MSBNK-")
    fields = compound_fields(first)
    assert fields["precursor_mz"] is None and fields["ms_level"] == 1 and fields["ion_mode"] == "positive"
    assert len(fields["inchikey"]) == 27 and fields["smiles"]


def test_mgf_reads_precursor_and_adduct(data):
    items = read_all(data / "ms2_queries.mgf")
    assert len(items) == 12
    fields = compound_fields(items[0].spectrum.metadata)
    assert fields["precursor_mz"] > 0 and fields["ms_level"] == 2 and fields["adduct"] == "[M+H]+"


def test_mzml_keeps_native_ids_and_reports_the_ms1_scan(data):
    items = read_all(data / "ms2_queries.mzML")
    assert len(items) == 13
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(r.id, r.source_index) for r in rejected] == [("scan=0", 0)]
    assert "MS1" in rejected[0].reason
    spectra = [i for i in items if isinstance(i, SourcedSpectrum)]
    assert [s.native_id for s in spectra] == [f"scan={n}" for n in range(1, 13)]
    mgf = list(load_from_mgf(str(data / "ms2_queries.mgf")))
    # The mzML was written from the MGF queries, in order: same precursors and the same peaks.
    for sourced, reference in zip(spectra, mgf):
        assert compound_fields(sourced.spectrum.metadata)["precursor_mz"] == pytest.approx(
            reference.get("precursor_mz"), abs=1e-4)
        assert sourced.spectrum.peaks.mz == pytest.approx(reference.peaks.mz, abs=1e-4)
        assert sourced.spectrum.get("title") == reference.get("spectrum_id")


def test_matchms_json_round_trip(data, tmp_path):
    spectra = list(load_from_mgf(str(data / "ms2_queries.mgf")))
    path = tmp_path / "spectra.json"
    save_as_json(spectra, str(path))
    items = read_all(path)
    assert [spectrum_id(i.spectrum.metadata, None) for i in items] == [s.get("spectrum_id") for s in spectra]


@pytest.mark.parametrize("name, head, fmt", [
    ("dataset_1.dat", b"BEGIN IONS\nPEPMASS=100\n", "mgf"),
    ("dataset_2.dat", b"Name: caffeine\nNum Peaks: 1\n", "msp"),
    ("dataset_3.dat", b'<?xml version="1.0"?>\n<indexedmzML>', "mzml"),
    ("dataset_4.dat", b"PAR1\x00\x00", "parquet"),
    ("dataset_5.dat", b'[{"peaks_json": []}]', "json"),
    ("x.MGF", b"", "mgf"),
])
def test_format_from_name_or_content(tmp_path, name, head, fmt):
    path = tmp_path / name
    path.write_bytes(head)
    assert detect_format(path, name) == fmt


def test_unknown_content_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some words\n")
    with pytest.raises(InputError, match="notes.txt: cannot tell the spectra format"):
        detect_format(path, "notes.txt")
