"""The few metadata fields llm4ms relies on, read from matchms's harmonised metadata."""

import json
import math
import re

_ID_KEYS = ("spectrum_id", "title", "db#", "accession")
_BLOCK = re.compile(r"^[A-Z]{14}$")


def spectrum_id(metadata: dict, native_id: str | None) -> str | None:
    """The spectrum's own id (SPECTRUM_ID, TITLE, DB#, the mzML native id), so users can join back."""
    if native_id:
        return str(native_id)
    for key in _ID_KEYS:
        value = metadata.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return None


def ms_level(metadata: dict) -> int | None:
    value = metadata.get("ms_level")
    if value is None:
        return None
    match = re.search(r"\d+", str(value))
    return int(match.group()) if match else None


def precursor_mz(metadata: dict) -> float | None:
    value = metadata.get("precursor_mz")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def precursor_problem(metadata: dict) -> str | None:
    """A precursor m/z that is given but is no mass (0, negative, not a number): an error in the file,
    not an EI spectrum, so the spectrum is rejected rather than textualized without it."""
    value = metadata.get("precursor_mz")
    if value is None or str(value).strip() == "":
        return None
    if precursor_mz(metadata) is None:
        return f"precursor m/z {value} is not a positive mass"
    return None


def lost_structure(raw: dict, fields: dict) -> str | None:
    """What structure the file gave that RDKit could not read (matchms clears it), or None."""
    given = {key: text_field(raw, key) for key in ("smiles", "inchi", "inchikey")}
    given = {key: value for key, value in given.items() if value}
    if not given or fields["inchikey"]:
        return None
    shown = ", ".join(f"{key.upper()} {value[:40]!r}" for key, value in given.items())
    return f"kept without a structure: RDKit cannot read {shown}"


def ion_mode(metadata: dict) -> str | None:
    value = str(metadata.get("ionmode") or "").strip().lower()
    if value in ("positive", "p", "pos", "+"):
        return "positive"
    if value in ("negative", "n", "neg", "-"):
        return "negative"
    return None


def text_field(metadata: dict, key: str) -> str | None:
    value = metadata.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value if value and value.lower() not in ("n/a", "na", "none", "nan") else None


def inchikey_block(inchikey) -> str | None:
    """First InChIKey block (the connectivity layer), which is how compounds are told apart."""
    if not inchikey:
        return None
    block = str(inchikey).strip().upper()[:14]
    return block if _BLOCK.match(block) else None


def compound_key(inchikey, spectrum_id: str) -> str:
    """A spectrum without a (valid) structure is a compound of its own."""
    return inchikey_block(inchikey) or f"id:{spectrum_id}"


def metadata_json(metadata: dict) -> str:
    return json.dumps(metadata, sort_keys=True, default=str)


def compound_fields(metadata: dict) -> dict:
    return {
        "precursor_mz": precursor_mz(metadata),
        "ms_level": ms_level(metadata),
        "ion_mode": ion_mode(metadata),
        "name": text_field(metadata, "compound_name"),
        "inchikey": text_field(metadata, "inchikey"),
        "smiles": text_field(metadata, "smiles"),
        "adduct": text_field(metadata, "adduct"),
        "formula": text_field(metadata, "formula"),
    }
