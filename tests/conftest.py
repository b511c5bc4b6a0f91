import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from llm4ms.cli.main import main

TEST_DATA = Path(__file__).resolve().parents[1] / "test-data"


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    """A cache of our own unless the caller shares one (the Makefile does, to convert the backbone once)."""
    if "LLM4MS_CACHE" not in os.environ:
        os.environ["LLM4MS_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def data():
    return TEST_DATA


@pytest.fixture
def cli():
    """Run ``llm4ms ARGS`` in-process; returns click's Result (stdout and stderr kept apart)."""
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def smollm2_gguf():
    from llm4ms.backbone.resolve import ALIASES, _packaged_file

    return _packaged_file(*ALIASES["smollm2-135m"])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smollm2_gguf):
    """A randomly initialised 2-layer Llama with SmolLM2's real tokenizer: fast, but real code paths."""
    return _tiny_llama(tmp_path_factory.mktemp("tiny-a"), smollm2_gguf, seed=0)


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory, smollm2_gguf):
    return _tiny_llama(tmp_path_factory.mktemp("tiny-b"), smollm2_gguf, seed=1)


def _tiny_llama(folder: Path, gguf_path: Path, seed: int) -> Path:
    import gguf
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm4ms.backbone.gguf_convert import _tokenizer

    tokenizer = _tokenizer(gguf.GGUFReader(str(gguf_path)), gguf_path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def work(tmp_path):
    """A folder with the bundled test data copied in, so outputs land beside inputs."""
    for name in ("ei_library.msp", "ei_queries.msp", "ms2_library.mgf", "ms2_queries.mgf", "ms2_queries.mzML"):
        shutil.copy(TEST_DATA / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def ei(cli, work, tiny_model):
    """EI library index and query embeddings made with the tiny model."""
    for role in ("library", "queries"):
        assert cli("textualize", "-q", work / f"ei_{role}.msp", "-o", work / f"{role}.parquet").exit_code == 0
        result = cli("embed", "-q", work / f"{role}.parquet", "-o", work / f"{role}.emb.parquet", "--model", tiny_model)
        assert result.exit_code == 0, result.stderr
    assert cli("build-index", work / "library.emb.parquet", "-o", work / "library.index").exit_code == 0
    return work
