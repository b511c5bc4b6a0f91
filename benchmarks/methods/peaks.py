"""Peak preparations shared by the classical methods."""

from matchms import Spectrum

from llm4ms.spectra.nominal import nominal_mass


def prepared(spectra: list, unit_mass: bool) -> list:
    """The spectra as a method should match them: nominal mass for unit-mass (EI) tasks."""
    if not unit_mass:
        return spectra
    return [Spectrum(*nominal_mass(s.peaks.mz, s.peaks.intensities), metadata=dict(s.metadata),
                     metadata_harmonization=False) for s in spectra]
