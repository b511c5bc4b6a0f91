"""What a reader yields: a spectrum with its place in its file, or the reason it cannot be used."""

from dataclasses import dataclass

from matchms import Spectrum


@dataclass
class SourcedSpectrum:
    spectrum: Spectrum
    source_file: str
    source_index: int  # 0-based position of the spectrum (or scan) in its file
    native_id: str | None = None


@dataclass
class Rejected:
    source_file: str
    source_index: int
    id: str | None
    reason: str

    def one_line(self, verdict: str = "rejected") -> str:
        who = f"spectrum {self.source_index + 1}" + (f" ({self.id})" if self.id else "")
        return f"{self.source_file}: {who}: {verdict}: {self.reason}"
