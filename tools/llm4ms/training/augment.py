"""Perturbed copies of a spectrum, written with the table's own template, as extra positive views.

EI compounds in a library mostly have a single spectrum, so same-compound pairs alone are few; a copy
of the spectrum changed the way another instrument would change it stands in for that second spectrum.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..textualize import text_with_params


@dataclass(frozen=True)
class Perturbation:
    intensity_sigma: float  # log-normal noise on each intensity
    peak_loss: float  # chance that a peak is lost
    mz_tilt: float = 0.0  # sd of a log-intensity slope per 100 Da: another instrument's mass discrimination
    low_mass_cut: float = 0.0  # Da: peaks up to this far above the lowest one may fall below the scan range
    noise_peaks: float = 0.0  # mean number of weak (0.5-5 %) peaks added at random m/z
    mz_sigma: float = 0.003  # Da, high-resolution spectra only

    def record(self) -> dict:
        return asdict(self)


PROFILES = {
    # The shipped adapters' augmentation.
    "light": Perturbation(intensity_sigma=0.3, peak_loss=0.1),
    # As hard as real variation: on the EI library, weighted cosine finds a copy's compound first about as
    # often as it finds a compound from another of its spectra (python -m benchmarks.augment_realism).
    "instrument": Perturbation(intensity_sigma=0.5, peak_loss=0.15, mz_tilt=0.8, low_mass_cut=15, noise_peaks=3),
}


def perturb(rng: np.random.Generator, mz, intensities, profile: Perturbation, high_resolution: bool):
    """(m/z, intensities) of a perturbed copy; its strongest peak (after the noise) always survives, so a copy is
    never empty."""
    mz = np.asarray(mz, dtype=float)
    intensity = np.asarray(intensities, dtype=float) * np.exp(rng.normal(0, profile.intensity_sigma, len(mz)))
    if profile.mz_tilt and len(mz):
        intensity = intensity * np.exp(rng.normal(0, profile.mz_tilt) * (mz - mz.mean()) / 100)
    keep = rng.random(len(mz)) >= profile.peak_loss
    if profile.low_mass_cut and len(mz):
        keep &= mz >= rng.uniform(mz.min(), mz.min() + profile.low_mass_cut)
    if len(mz):
        keep[np.argmax(intensity)] = True
    if high_resolution:  # drawn for every peak before any is dropped, as the shipped adapters' runs did
        mz = mz + rng.normal(0, profile.mz_sigma, len(mz))
    mz, intensity = mz[keep], intensity[keep]
    added = rng.poisson(profile.noise_peaks) if profile.noise_peaks and len(mz) else 0
    if added:
        noise = rng.uniform(mz.min(), max(mz.max(), mz.min() + 1), added)
        mz = np.concatenate([mz, noise if high_resolution else np.rint(noise)])
        intensity = np.concatenate([intensity, rng.uniform(0.005, 0.05, added) * intensity.max()])
    return mz, intensity


def perturbed_text(rng: np.random.Generator, mz, intensities, precursor_mz, template: str, params: dict,
                   profile: Perturbation = PROFILES["light"]):
    mz, intensity = perturb(rng, mz, intensities, profile, params.get("decimals", 0) > 0)
    text, _ = text_with_params(mz, intensity, precursor_mz, template, params)
    return text
