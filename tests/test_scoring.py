import pytest

from llm4ms.scoring import TanimotoCache, compound_ranks, inchikey_block, recall_at_k

A, B, C, D = "AAAAAAAAAAAAAA", "BBBBBBBBBBBBBB", "CCCCCCCCCCCCCC", "DDDDDDDDDDDDDD"


def key(block, tail="UHFFFAOYSA-N"):
    return f"{block}-{tail}"


def test_ranks_run_over_distinct_compounds():
    hits = {
        # B twice (two spectra, two stereo variants): counts once; A is then 2nd, not 3rd.
        "q1": [("s1", key(B)), ("s2", key(B, "XXXXXXXXSA-N")), ("s3", key(A))],
        # A spectrum without structure takes a place of its own.
        "q2": [("s4", None), ("s5", key(C)), ("s6", key(A))],
        "q3": [("s7", key(D))],
    }
    truth = {"q1": A, "q2": A, "q3": A, "q4": A}  # q4 has no hits at all
    ranks = compound_ranks(hits, truth)
    assert ranks == {"q1": 2, "q2": 3, "q3": None, "q4": None}
    assert recall_at_k(ranks.values(), (1, 2, 3)) == {"recall@1": 0.0, "recall@2": 0.25, "recall@3": 0.5}


def test_recall_at_one_hand_computed():
    ranks = [1, 1, 2, None, 5]
    assert recall_at_k(ranks, (1, 5, 10)) == {"recall@1": 0.4, "recall@5": 0.8, "recall@10": 0.8}


@pytest.mark.parametrize("value, block", [
    ("ALRLPDGCPYIVHP-UHFFFAOYSA-N", "ALRLPDGCPYIVHP"), ("alrlpdgcpyivhp-uhfffaoysa-n", "ALRLPDGCPYIVHP"),
    ("", None), (None, None), ("N/A", None), ("12345678901234-X", None)])
def test_inchikey_block(value, block):
    assert inchikey_block(value) == block


def test_tanimoto_morgan():
    cache = TanimotoCache()
    assert cache.similarity("CCO", "OCC") == 1.0
    assert 0 < cache.similarity("c1ccccc1C", "c1ccccc1CC") < 1
    assert cache.similarity("not a smiles", "CCO") is None
    assert cache.similarity(None, "CCO") is None
