"""Tanimoto similarity of RDKit Morgan fingerprints (radius 2, 2048 bits), cached per SMILES."""

from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import rdFingerprintGenerator

RDLogger.DisableLog("rdApp.*")  # unparseable SMILES are reported by the caller, once, not by RDKit per atom


class TanimotoCache:
    def __init__(self, radius: int = 2, size: int = 2048):
        self.generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=size)
        self.cache = {}

    def fingerprint(self, smiles):
        if not smiles:
            return None
        if smiles not in self.cache:
            molecule = Chem.MolFromSmiles(smiles)
            self.cache[smiles] = self.generator.GetFingerprint(molecule) if molecule is not None else None
        return self.cache[smiles]

    def similarity(self, smiles_a, smiles_b) -> float | None:
        a, b = self.fingerprint(smiles_a), self.fingerprint(smiles_b)
        if a is None or b is None:
            return None
        return DataStructs.TanimotoSimilarity(a, b)
