"""EI spectra with ions above their compound's mass.

MassBank files spectra of derivatives (TMS ethers, methoximes) and of samples with background ions under the
underivatized compound's InChIKey. Such a spectrum has ions of at least FLOOR of its base peak beyond what
the compound and its isotope peaks can weigh, and pairing it with an ordinary spectrum of the same compound
asks the encoder for a likeness the spectra do not have (9.2 % of the MassBank EI library's same-compound
pairs; benchmarks/RESULTS.md, "EI spectra above their compound's mass"). Computed when the training set is
mined, since training itself runs where RDKit may not be installed (the GPU lease).
"""

import numpy as np

from .fingerprints import molecule_of

FLOOR = 0.01  # of the base peak: weaker ions are too often noise to judge a spectrum by


def heaviest_allowed(smiles: str | None, inchi: str | None = None) -> float | None:
    """The heaviest m/z the compound's own ions reach: its nominal mass (isotope labels counted), 2.5 Da
    for the M+1 and M+2 peaks of C, S and Si, and 2 Da more per Cl or Br, whose clusters run to M+2n.
    None when no structure parses."""
    from rdkit import Chem

    molecule = molecule_of(smiles, inchi)
    if molecule is None:
        return None
    table = Chem.GetPeriodicTable()
    mass = 0
    for atom in molecule.GetAtoms():
        mass += atom.GetIsotope() or round(table.GetMostCommonIsotopeMass(atom.GetAtomicNum()))
        mass += atom.GetTotalNumHs()  # implicit and explicit plain H; labelled H are atoms of their own
    halogens = sum(atom.GetSymbol() in ("Cl", "Br") for atom in molecule.GetAtoms())
    return mass + 2.5 + 2 * halogens


def heaviest_ion(mz, intensities) -> float:
    """The highest m/z of a peak of at least FLOOR of the base peak."""
    mz, intensities = np.asarray(mz, dtype=float), np.asarray(intensities, dtype=float)
    return float(mz[intensities >= FLOOR * intensities.max()].max()) if mz.size else 0.0


def above_mass_flags(smiles: list, inchis: list, mz: list, intensities: list, is_ei: list) -> list:
    """Per spectrum: True above its compound's mass, False not, None where that cannot be said (not EI, or
    no structure parses). Each row is judged by its own structure: a labelled standard shares its InChIKey's
    first block with the unlabelled compound but weighs more."""
    allowed_of: dict = {}
    flags = []
    for smi, inchi, peaks_mz, peaks_intensity, ei in zip(smiles, inchis, mz, intensities, is_ei):
        if not ei:
            flags.append(None)
            continue
        if (smi, inchi) not in allowed_of:
            allowed_of[smi, inchi] = heaviest_allowed(smi, inchi)
        allowed = allowed_of[smi, inchi]
        flags.append(None if allowed is None else heaviest_ion(peaks_mz, peaks_intensity) > allowed)
    return flags
