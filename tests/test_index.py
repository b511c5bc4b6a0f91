import faiss
import numpy as np
import pyarrow as pa
import pytest

from llm4ms.index import LibraryIndex, SearchSettings, search_index


def make_index(vectors, inchikeys, precursors):
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    library = pa.table({"id": [f"s{i}" for i in range(len(vectors))], "inchikey": inchikeys,
                        "precursor_mz": pa.array(precursors, pa.float64())})
    return LibraryIndex(flat, library, {}, "test.index"), vectors


@pytest.fixture
def crowded():
    """Ten spectra of compound A nearest the query, then B and C: the search must look past A's copies."""
    rng = np.random.default_rng(0)
    query = np.ones(8)
    near = [query + rng.normal(0, 0.01, 8) for _ in range(10)]
    vectors = near + [query + rng.normal(0, 0.3, 8), query + rng.normal(0, 0.6, 8), -query]
    keys = ["AAAAAAAAAAAAAA-UHFFFAOYSA-N"] * 10 + ["BBBBBBBBBBBBBB-UHFFFAOYSA-N", None, "CCCCCCCCCCCCCC-N"]
    precursors = [100.0] * 10 + [200.0, 200.001, None]
    index, _ = make_index(vectors, keys, precursors)
    return index, (query / np.linalg.norm(query)).astype(np.float32)[None]


def test_compound_grouping_widens_until_k_distinct(crowded):
    index, query = crowded
    hits = search_index(index, query, [None], SearchSettings(k=3, group="compound"))[0]
    assert [index.library.column("id")[i].as_py() for i, _ in hits][1:] == ["s10", "s11"]
    assert hits[0][0] < 10  # the best of A's ten spectra represents A
    assert [s for _, s in hits] == sorted([s for _, s in hits], reverse=True)


def test_spectrum_grouping_returns_spectra(crowded):
    index, query = crowded
    hits = search_index(index, query, [None], SearchSettings(k=3, group="spectrum"))[0]
    assert all(i < 10 for i, _ in hits) and len(hits) == 3


def test_k_larger_than_library(crowded):
    index, query = crowded
    hits = search_index(index, query, [None], SearchSettings(k=50, group="compound"))[0]
    assert len(hits) == 4  # A, B, the structureless one, C


@pytest.mark.parametrize("window, unit, expected", [
    (0.01, "da", {"s10", "s11"}), (1.0, "ppm", {"s10"}), (10.0, "ppm", {"s10", "s11"})])
def test_precursor_window(crowded, window, unit, expected):
    index, query = crowded
    hits = search_index(index, query, [200.0], SearchSettings(k=5, group="spectrum", window=window,
                                                              window_unit=unit))[0]
    assert {index.library.column("id")[i].as_py() for i, _ in hits} == expected


def test_window_without_candidates_or_precursor(crowded):
    index, query = crowded
    settings = SearchSettings(k=5, window=0.01)
    assert search_index(index, np.repeat(query, 2, axis=0), [500.0, None], settings) == [[], []]


def test_window_ties_go_to_the_lower_row_and_its_bounds_are_inclusive():
    # Identical library vectors must score identically (a float32 product differed in its last bit with a
    # vector's place in the block, so a duplicate filed under a wrong compound could outrank the right one),
    # and a spectrum exactly W from the query's precursor is inside the window, as documented, although
    # 150.0 + 0.01 is not 150.01 in binary.
    rng = np.random.default_rng(0)
    vector = [rng.normal(size=576) for _ in range(3)][2]  # one whose float32 products vary with the row
    index, vectors = make_index([vector] * 50, [f"{i:014d}-UHFFFAOYSA-N" for i in range(50)], [150.01] * 50)
    hits = search_index(index, vectors[:1], [150.0], SearchSettings(k=50, group="spectrum", window=0.01))[0]
    assert [row for row, _ in hits] == list(range(50))
    assert len({score for _, score in hits}) == 1
    for precursor, inside in ((150.0, True), (150.02, True), (149.9999, False), (150.0201, False)):
        found = search_index(index, vectors[:1], [precursor], SearchSettings(k=1, group="spectrum", window=0.01))[0]
        assert bool(found) == inside, precursor


def test_open_search_ties_go_to_the_lower_row_whatever_k():
    # faiss keeps an arbitrary one of the rows tied at its depth: with many identical library spectra filed
    # under different compounds the top hit changed with -k (row 0 at k 1, row 9 at k 10) and differed from
    # the window search's
    vector = np.zeros(16)
    vector[0] = 1.0
    index, vectors = make_index([vector] * 40, [f"{i:014d}-UHFFFAOYSA-N" for i in range(40)], [150.0] * 40)
    for group in ("compound", "spectrum"):
        for k in (1, 3, 10, 40):
            for window in (None, 0.01):
                hits = search_index(index, vectors[:1], [150.0], SearchSettings(k=k, group=group, window=window))[0]
                assert [row for row, _ in hits] == list(range(k)), (group, k, window)
