"""The library index file (faiss vectors + library metadata + provenance in one file) and its search."""

from .search import SearchSettings, search_index
from .store import LibraryIndex, build_index, load_index

__all__ = ["LibraryIndex", "SearchSettings", "build_index", "load_index", "search_index"]
