"""Tasks, the spectra every method reads, and the seeded query subset for slow methods.

Every method sees the same spectra: the files are read and cleaned once by `llm4ms textualize` (matchms
readers and filters, intensities normalised to a maximum of 1), and each method takes its peaks from
that table. A spectrum llm4ms rejects is therefore left out for every method alike, and reported.
"""

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matchms import Spectrum

from llm4ms.backbone.cache import file_digest
from llm4ms.steps.textualize import textualize_files
from llm4ms.textualize import TextSettings
from llm4ms.textualize.settings import STRONGEST, TEMPLATES_VERSION

from .report import write_text

DATA = Path(os.environ.get("LLM4MS_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "massbank"))


@dataclass(frozen=True)
class Task:
    """A query/library pair and the classical settings that suit its kind of spectra."""
    name: str
    queries: str
    library: str
    unit_mass: bool  # EI: m/z rounded to integers before matching (GC-MS libraries are nominal mass)
    tolerance: float  # fragment matching tolerance, Da
    window: float | None  # precursor window of the *-window methods, Da; None where there is no precursor
    mz_power: float  # weighted cosine: m/z^a · I^b
    intensity_power: float
    slow_queries: int | None  # queries given to slow methods (None: all)


EI = Task("ei", str(DATA / "ei_queries.msp"), str(DATA / "ei_library.msp"), unit_mass=True, tolerance=0.1,
          window=None, mz_power=3.0, intensity_power=0.6, slow_queries=None)
MS2 = Task("ms2", str(DATA / "ms2pos_queries.mgf"), str(DATA / "ms2pos_library.mgf"), unit_mass=False,
           tolerance=0.01, window=0.01, mz_power=0.0, intensity_power=0.5, slow_queries=400)
TASKS = {"ei": EI, "ms2": MS2}


def custom_task(queries: str, library: str, like: str) -> Task:
    """A user's own pair of files, with the settings of the task it resembles; slow methods get every query."""
    return replace(TASKS[like], name="custom", queries=queries, library=library, slow_queries=None)


def _cache_name(path: str, template: str, peak_choice: str) -> str:
    # The file's bytes, not its time stamp: a fresh copy of the same data (a new session's) keeps its tables
    # and embeddings, which took tens of minutes to make.
    key = f"{file_digest([Path(path)])}|{template}|{TEMPLATES_VERSION}"
    if peak_choice != STRONGEST:  # the default keeps the names of the tables made before the choice existed
        key += f"|{peak_choice}"
    return f"{Path(path).stem}.{template}.{hashlib.sha256(key.encode()).hexdigest()[:12]}.parquet"


def spectra_table(path: str, work: Path, template: str = "auto", peak_choice: str = STRONGEST) -> tuple[Path, int]:
    """The llm4ms spectra table of ``path`` (made once per file version, template and peak choice), and how
    many spectra llm4ms rejected."""
    out = work / "spectra" / _cache_name(path, template, peak_choice)
    rejected_file = out.with_suffix(".rejected")
    # Both or neither: a table whose rejection list was never written would pass for one that rejected none.
    if not out.exists() or not rejected_file.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        report = textualize_files([path], str(out), TextSettings(template, peak_choice=peak_choice))
        write_text(rejected_file, "".join(f"{r.source_index + 1}\t{r.reason}\n" for r in report.rejected))
    rejected = rejected_file.read_text(encoding="utf-8").count("\n")
    return out, rejected


@dataclass
class Spectra:
    """The rows of a spectra table as matchms spectra, with the columns the harness needs."""
    ids: list
    spectra: list
    inchikeys: list
    names: list
    smiles: list
    precursors: np.ndarray  # NaN where absent

    def __len__(self):
        return len(self.ids)

    def take(self, rows) -> "Spectra":
        rows = list(rows)
        return Spectra([self.ids[i] for i in rows], [self.spectra[i] for i in rows],
                       [self.inchikeys[i] for i in rows], [self.names[i] for i in rows],
                       [self.smiles[i] for i in rows], self.precursors[rows])


_COLUMNS = ["id", "mz", "intensities", "precursor_mz", "inchikey", "name", "smiles"]


def load_spectra(table: Path) -> Spectra:
    return spectra_of(pq.read_table(table, columns=_COLUMNS))


def spectra_of(table) -> Spectra:
    """An Arrow table with llm4ms's spectra columns (a spectra or an embeddings table) as ``Spectra``."""
    rows = table.select(_COLUMNS).to_pylist()
    spectra = []
    for row in rows:
        metadata = {"spectrum_id": row["id"]}
        if row["precursor_mz"] is not None:
            metadata["precursor_mz"] = row["precursor_mz"]
        spectra.append(Spectrum(np.asarray(row["mz"], dtype=float), np.asarray(row["intensities"], dtype=float),
                                metadata=metadata, metadata_harmonization=False))
    precursors = np.array([np.nan if r["precursor_mz"] is None else r["precursor_mz"] for r in rows])
    return Spectra([r["id"] for r in rows], spectra, [r["inchikey"] for r in rows], [r["name"] for r in rows],
                   [r["smiles"] for r in rows], precursors)


def seeded_subset(n_total: int, n: int | None, seed: int) -> list[int]:
    """Row numbers of a fixed random subset, in file order (all rows when n is None or too large)."""
    if n is None or n >= n_total:
        return list(range(n_total))
    return sorted(np.random.default_rng(seed).choice(n_total, n, replace=False).tolist())
