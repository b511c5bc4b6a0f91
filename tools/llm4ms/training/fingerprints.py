"""Morgan fingerprints (RDKit) as packed bits, and Tanimoto similarities on them with plain numpy."""

import numpy as np

BITS = 2048
RADIUS = 2


def molecule_of(smiles: str | None, inchi: str | None = None):
    """The RDKit molecule of the SMILES, else of the InChI; None when neither parses."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    molecule = Chem.MolFromSmiles(smiles) if smiles else None
    if molecule is None and inchi:
        molecule = Chem.MolFromInchi(inchi)
    return molecule


def morgan_bits(smiles: str | None, inchi: str | None = None) -> np.ndarray | None:
    """Packed 2048-bit Morgan fingerprint (radius 2), or None when no structure parses."""
    from rdkit.Chem import rdFingerprintGenerator

    molecule = molecule_of(smiles, inchi)
    if molecule is None:
        return None
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS, fpSize=BITS)
    return np.packbits(generator.GetFingerprintAsNumPy(molecule).astype(bool))


def tanimoto_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Tanimoto of every row of ``first`` against every row of ``second`` (packed uint8 rows)."""
    a = np.unpackbits(first, axis=1).astype(np.float32)
    b = np.unpackbits(second, axis=1).astype(np.float32)
    both = a @ b.T
    either = a.sum(1)[:, None] + b.sum(1)[None, :] - both
    return np.divide(both, either, out=np.zeros_like(both), where=either > 0)
