"""llm4ms through the functions its commands call: textualize → embed → build-index → search, with any
backbone, adapter, layers and template, optionally re-ranked by a spectral similarity (the hybrid).

Embeddings are kept in the work folder under a name that covers the spectra file and every setting
that changes the vectors, with the seconds they took, so a re-run (another search setting, another
re-ranking) does not embed again and still reports the embedding speed.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from llm4ms import tables
from llm4ms.backbone import choose_adapter, resolve_adapter
from llm4ms.backbone.encoder import pick_device, pick_dtype
from llm4ms.index import SearchSettings, build_index
from llm4ms.steps.embed import embed_table, load_encoder
from llm4ms.steps.search import search_files
from llm4ms.textualize.settings import STRONGEST

from . import Ranking
from ..data import spectra_table
from ..report import write_text


def _texts(spectra: Path) -> tuple[dict, set]:
    """The textualization identity and the templates of a spectra table (what picks and checks the adapter)."""
    provenance = tables.read_provenance(spectra, spectra.name, (tables.SPECTRA,))
    return provenance["textualization"], tables.table_templates(spectra, spectra.name)


@dataclass(frozen=True)
class Llm4msOptions:
    model: str = "smollm2-135m"
    adapter: str = "auto"  # as llm4ms embed: the shipped adapter for the template; "none": bare backbone
    layers: int | None = None
    template: str = "auto"
    device: str = "auto"
    batch_size: int = 16
    rerank_depth: int = 50
    rerank_weight: float = 0.5  # as llm4ms search --rerank-weight; the hybrid figures before 2026-11-28 used 1
    dtype: str = "auto"  # as llm4ms embed: bf16-mixed where the device computes bf16 natively, else float32
    peak_choice: str = STRONGEST  # as llm4ms textualize --peak-choice
    also_peak_choice: str | None = None  # as llm4ms embed --also-peak-choice


class Embeddings:
    """Embedded query and library tables for one set of options, made at most once per work folder."""

    def __init__(self, task, options: Llm4msOptions, work: Path):
        self.task, self.options, self.work = task, options, work
        self.encoder = None
        self.index = None  # (index file, seconds to build it): one build serves every llm4ms method of a run

    def encoder_for(self, spectra: Path):
        if self.encoder is None:  # model loading is not part of any timing
            o = self.options
            textualization, templates = _texts(spectra)
            self.encoder = load_encoder(o.model, o.adapter, o.device, o.dtype, o.layers, 512, textualization,
                                        templates)
        return self.encoder

    def get(self, role: str) -> tuple[Path, dict]:
        """(embeddings file, {"spectra": n, "seconds": s}) for role "queries" or "library"."""
        source = self.task.queries if role == "queries" else self.task.library
        spectra, _ = spectra_table(source, self.work, self.options.template, self.options.peak_choice)
        o = self.options
        adapter = choose_adapter(o.adapter, o.model, _texts(spectra)[1])
        adapter = adapter and resolve_adapter(adapter)["fingerprint"]
        dtype = pick_dtype(o.dtype, pick_device(o.device))
        # float32 keys stay as they were before --dtype existed, so earlier embeddings are re-used.
        key = json.dumps([spectra.name, o.model, adapter, o.layers] + ([dtype] if dtype != "float32" else []) +
                         ([o.also_peak_choice] if o.also_peak_choice else []))
        out = self.work / "embeddings" / f"{spectra.stem}.{hashlib.sha256(key.encode()).hexdigest()[:12]}.emb.parquet"
        timing = out.with_suffix(".timing.json")
        if not out.exists() or not timing.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            encoder = self.encoder_for(spectra)
            start = time.perf_counter()
            count, _ = embed_table(str(spectra), str(out), encoder, o.batch_size,
                                   also_peak_choice=o.also_peak_choice)
            write_text(timing, json.dumps({"spectra": count, "seconds": time.perf_counter() - start,
                                           "device": encoder.device, "dtype": encoder.dtype}))
        return out, json.loads(timing.read_text())

    def library_index(self) -> tuple[Path, float]:
        if self.index is None:
            library, _ = self.get("library")
            index = self.work / "embeddings" / f"{library.stem}.index"
            start = time.perf_counter()
            build_index(str(library), str(index))
            self.index = (index, time.perf_counter() - start)
        return self.index


def llm4ms(task, embeddings: Embeddings, hits: Path, window: bool = False, rerank: str | None = None) -> Ranking:
    """Writes ``hits`` as `llm4ms search` does and returns the timings (the harness scores the file)."""
    queries, query_timing = embeddings.get("queries")
    _, library_timing = embeddings.get("library")
    index, index_seconds = embeddings.library_index()
    settings = SearchSettings(10, "compound", task.window if window else None, "da", rerank,
                              embeddings.options.rerank_depth, task.tolerance, embeddings.options.rerank_weight)
    start = time.perf_counter()
    stats = search_files(str(queries), str(index), str(hits), settings, warn=lambda message: None)
    search = time.perf_counter() - start
    embedded = query_timing["spectra"] + library_timing["spectra"]
    return Ranking(None, None, library_prep_s=library_timing["seconds"] + index_seconds,
                   query_prep_s=query_timing["seconds"], search_s=search, hits=hits,
                   extra={"embedding_spectra_per_s": embedded / (query_timing["seconds"] + library_timing["seconds"]),
                          "device": query_timing.get("device"),
                          "dtype": query_timing.get("dtype", "float32"), "queries_without_hits": stats["without_hits"],
                          "window_da": settings.window, "rerank": rerank,
                          "rerank_depth": embeddings.options.rerank_depth if rerank else None,
                          "rerank_weight": embeddings.options.rerank_weight if rerank else None})
