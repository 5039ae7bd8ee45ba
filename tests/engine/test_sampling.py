"""Sampling settings on the real demo checkpoint: edge values, OpenAI's penalties and logit_bias,
and one request's sampling failure staying that request's."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from cosmos_reason.engine.base import EngineError, SamplingParams
from cosmos_reason.engine.hf import draw as draw_module
from cosmos_reason.engine.hf import sampler as sampler_module
from cosmos_reason.engine.hf.draw import RowSampling, block_size, draw, sampling_weights, top_values
from cosmos_reason.engine.hf.sampler import apply_presence_frequency, choose_tokens
from cosmos_reason.threads import keep_torch_threads

from .conftest import collect, wait_for


async def test_a_denormal_temperature_is_greedy_not_an_error(engine):
    greedy = await collect(engine, "hello", max_tokens=12)
    tiny = await collect(engine, "hello", max_tokens=12, temperature=3e-39)
    assert tiny == greedy


async def test_one_rows_sampling_failure_ends_that_request_only(engine, monkeypatch):
    """NaN logits in one sampled row (any cause) end that request with an error; the other
    requests of the same decode batch finish exactly as they would alone."""
    others = ["first other", "second other", "third other"]
    alone = [await collect(engine, q, max_tokens=10, ignore_eos=True) for q in others]
    decode = engine.scheduler.runner.decode
    crowd_waiting = threading.Event()  # the bad row's decode waits for it: the crowd joins at once
    poisoned = []

    @torch.inference_mode()
    def poison(rows):
        if len(rows) == 1:
            crowd_waiting.wait(60)
        logits = decode(rows)
        for i, row in enumerate(rows):
            if row.group.request_id == "bad" and len(rows) == 4:
                logits[i] = float("nan")
                poisoned.append(row.generated)
        return logits

    monkeypatch.setattr(engine.scheduler.runner, "decode", poison)
    bad = asyncio.ensure_future(
        collect(engine, "bad one", request_id="bad", max_tokens=1000, ignore_eos=True, temperature=1.0, seed=1)
    )
    await wait_for(lambda: engine.stats().running_rows == 1)
    crowd = asyncio.gather(*[collect(engine, q, max_tokens=10, ignore_eos=True) for q in others])
    await wait_for(lambda: engine.stats().waiting_requests == 3)
    crowd_waiting.set()
    with pytest.raises(EngineError, match="sampling failed"):
        await bad
    assert poisoned, "the bad row was never in a batch of four"
    assert list(await crowd) == alone
    assert (await collect(engine, "after", max_tokens=3, ignore_eos=True))[0]["tokens"] == 3


async def test_logit_bias_steers_greedy_choice(engine, loaded):
    free = await collect(engine, "hello", max_tokens=6, ignore_eos=True, repetition_penalty=1.0)
    forced_id = loaded.processor.tokenizer.convert_tokens_to_ids("ball")
    forced = await collect(
        engine, "hello", max_tokens=6, ignore_eos=True, repetition_penalty=1.0, logit_bias=((forced_id, 100.0),)
    )
    assert forced[0]["text"] == "ball" * 6 != free[0]["text"]


async def test_frequency_penalty_stops_repeats_the_free_run_has(engine):
    free = await collect(engine, "a b c d e f", max_tokens=24, ignore_eos=True, repetition_penalty=1.0, logprobs=True)
    free_tokens = [e.token for e in free[0]["logprobs"]]
    assert len(set(free_tokens)) < len(free_tokens), "the tiny model no longer repeats; pick another prompt"
    for penalty in ({"frequency_penalty": 100.0}, {"presence_penalty": 100.0}):
        out = await collect(
            engine, "a b c d e f", max_tokens=24, ignore_eos=True, repetition_penalty=1.0, logprobs=True, **penalty
        )
        tokens = [e.token for e in out[0]["logprobs"]]
        assert len(set(tokens)) == len(tokens), penalty


def test_presence_and_frequency_count_generated_tokens_only():
    logits = torch.zeros(2, 8)
    history = torch.tensor([[5, 1, 2, 2], [3, 3, 3, 4]])  # row 0: prompt [5], generated [1, 2, 2]
    rows = [_row(presence_penalty=0.5, frequency_penalty=1.0), _row(presence_penalty=0.25)]
    apply_presence_frequency(logits, history, [3, 1], rows)
    assert logits[0].tolist() == [0, -1.5, -2.5, 0, 0, 0, 0, 0]
    assert logits[1].tolist() == [0, 0, 0, 0, -0.25, 0, 0, 0]


def _transformers_probs(logits: torch.Tensor, temperature: float, top_k: int, top_p: float, min_p: float):
    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    for warper in (
        ([TopKLogitsWarper(top_k)] if top_k else [])
        + ([TopPLogitsWarper(top_p)] if top_p < 1 else [])
        + ([MinPLogitsWarper(min_p)] if min_p else [])
    ):
        scores = warper(None, scores)
    return scores.softmax(-1)


SETTINGS = [(0.6, 0, 0.95, 0.0), (1.0, 0, 1.0, 0.1), (0.7, 20, 0.9, 0.05), (0.8, 0, 0.5, 0.3), (1.3, 50, 1.0, 0.0)]


@pytest.mark.parametrize("spread", [0.5, 3.0, 12.0], ids=["flat", "random-model", "peaked"])
def test_one_batched_pass_gives_transformers_distribution_for_every_row(spread):
    """All settings in one batch over the real vocabulary size: each row's distribution is the one
    transformers' warpers define for that row (same tokens kept, same probabilities)."""
    vocab = 151_936
    logits = torch.randn(len(SETTINGS), vocab, generator=torch.Generator().manual_seed(7)) * spread
    temperature = torch.tensor([s[0] for s in SETTINGS]).view(-1, 1)
    weights = sampling_weights(
        logits / temperature,
        torch.tensor([s[1] for s in SETTINGS]),
        torch.tensor([s[2] for s in SETTINGS]),
        torch.tensor([s[3] for s in SETTINGS]),
    )
    ours = weights / weights.sum(-1, keepdim=True)
    for row, setting in enumerate(SETTINGS):
        expected = _transformers_probs(logits[row : row + 1], *setting)[0]
        assert torch.equal(ours[row] > 0, expected > 0), setting
        assert torch.allclose(ours[row], expected, atol=1e-7, rtol=1e-4), setting


def test_draws_follow_the_distribution():
    """Inverse transform sampling picks each token with its probability (a chi-square bound far
    beyond chance: 99.99th percentile for 7 degrees of freedom is 29.9) and never a dropped one."""
    probs = torch.tensor([[0.0, 0.05, 0.1, 0.0, 0.2, 0.15, 0.25, 0.05, 0.2]])
    rows = [RowSampling(SamplingParams(max_tokens=1, temperature=1.0), torch.Generator().manual_seed(3))]
    draws = 20_000
    counts = torch.zeros(9)
    for _ in range(draws):
        counts[draw(probs, rows)[0]] += 1
    expected = probs[0] * draws
    kept = probs[0] > 0
    assert counts[~kept].sum() == 0
    chi2 = float(((counts[kept] - expected[kept]) ** 2 / expected[kept]).sum())
    assert chi2 < 29.9


def _draw_many(logits: torch.Tensor, params: SamplingParams, draws: int) -> torch.Tensor:
    """The tokens of `draws` copies of the one row `logits` [1, vocab], chosen in one call."""
    tokens = choose_tokens(
        logits.repeat(draws, 1),
        torch.zeros(draws, 1, dtype=torch.long),
        torch.ones(draws, 1),
        [RowSampling(params, None)] * draws,
        [0] * draws,
    )
    return torch.tensor(tokens)


@pytest.mark.parametrize(
    "temperature, top_k, top_p, min_p",
    [
        (0.6, 0, 0.95, 0.0),  # the card: nearly every draw kept at the first try
        (1.0, 0, 0.3, 0.2),  # a small nucleus: many rows reach the exact path
        (0.8, 5, 0.9, 0.0),  # top-k: the exact path
    ],
)
def test_batched_choice_samples_transformers_distribution(temperature, top_k, top_p, min_p):
    """Many identical rows through choose_tokens in one call: the token frequencies match the
    distribution transformers' warpers define (chi-square far beyond chance) and no token the
    warpers drop is ever drawn."""
    logits = torch.randn(1, 40, generator=torch.Generator().manual_seed(11)) * 2
    expected = _transformers_probs(logits, temperature, top_k, top_p, min_p)[0]
    draws = 40_000
    params = SamplingParams(
        max_tokens=1, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, repetition_penalty=1.0
    )
    tokens = _draw_many(logits, params, draws)
    counts = torch.bincount(tokens, minlength=40).double()
    kept = expected > 0
    assert counts[~kept].sum() == 0
    chi2 = float(((counts[kept] - draws * expected[kept]) ** 2 / (draws * expected[kept])).sum())
    assert chi2 < 3 * int(kept.sum()) + 30  # mean is dof; this bound is beyond the 99.99th percentile


def test_top_k_keeps_every_token_tied_with_the_kth():
    """transformers' top-k keeps every token as likely as the k-th: with top_k 3 and four tokens
    tied at the third place, all six are drawn, with transformers' probabilities."""
    logits = torch.full((1, 40), -5.0)
    logits[0, :6] = torch.tensor([3.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    expected = _transformers_probs(logits, 1.0, 3, 1.0, 0.0)[0]
    assert int((expected > 0).sum()) == 6
    draws = 20_000
    params = SamplingParams(max_tokens=1, temperature=1.0, top_k=3, repetition_penalty=1.0)
    tokens = _draw_many(logits, params, draws)
    counts = torch.bincount(tokens, minlength=40).double()
    kept = expected > 0
    assert counts[~kept].sum() == 0
    chi2 = float(((counts[kept] - draws * expected[kept]) ** 2 / (draws * expected[kept])).sum())
    assert chi2 < 3 * 5 + 30


def test_top_values_by_blocks_are_the_rows_top_k():
    """Reason2's top-k candidates come from the blocks with the highest maxima: the same values as
    `topk` over the whole row, at positions holding them, whether the row's best scores crowd one
    block, spread over many, or stand among -inf."""
    vocab = 151_936
    x = torch.randn(4, vocab, generator=torch.Generator().manual_seed(2))
    x[1, 5000:5030] += 10.0  # the top 21 all in one block
    x[2, torch.arange(40) * 3797] += 10.0  # spread over 40 blocks
    x[3] = float("-inf")
    x[3, torch.tensor([7, 90_000, 151_935])] = torch.tensor([1.0, 3.0, 2.0])
    assert vocab % block_size(vocab) == 0 and vocab // block_size(vocab) >= 4 * 21  # the block route
    values, positions = top_values(x, 21)
    expected = x.topk(21, dim=-1).values
    assert torch.equal(values, expected)
    assert torch.equal(x.gather(1, positions), values)
    assert all(len(set(row)) == 21 for row in positions.tolist())


@pytest.mark.parametrize("tie", [False, True], ids=["distinct", "tied-at-kth"])
def test_top_k_draws_by_blocks_follow_transformers(tie, monkeypatch):
    """Rows with a small top-k over a vocabulary of many blocks (here 32 blocks of 128: the block
    route of top_values, as on Qwen's vocabulary) draw with transformers' probabilities, and a
    token tied with the k-th in another block is drawn as transformers keeps it."""
    monkeypatch.setattr(draw_module, "block_size", lambda vocab: 128)
    vocab = 4096
    logits = torch.randn(1, vocab, generator=torch.Generator().manual_seed(9)) * 0.5
    best = torch.tensor([5, 6, 700, 2048, 4095, 3000])
    logits[0, best] = torch.tensor([4.0, 3.9, 3.5, 3.2, 3.0, 3.0 if tie else 2.8])
    expected = _transformers_probs(logits, 0.7, 5, 1.0, 0.0)[0]
    assert int((expected > 0).sum()) == (6 if tie else 5)
    draws = 8_000
    params = SamplingParams(max_tokens=1, temperature=0.7, top_k=5, repetition_penalty=1.0)
    tokens = _draw_many(logits, params, draws)
    counts = torch.bincount(tokens, minlength=vocab).double()
    kept = expected > 0
    assert counts[~kept].sum() == 0
    chi2 = float(((counts[kept] - draws * expected[kept]) ** 2 / (draws * expected[kept])).sum())
    assert chi2 < 3 * 5 + 30


@pytest.mark.parametrize("vocab", [4500, 4513], ids=["whole-blocks", "short-last-block"])
def test_draws_across_blocks_follow_the_nucleus_of_a_flat_vocabulary(vocab, monkeypatch):
    """The random-weight model's case, over several blocks (4 x 1125 tokens; or, for a prime
    vocabulary, 1024-token blocks and a short last one): a nearly flat softmax whose top-p cut
    falls inside the bulk, plus a few likely tokens spread over the blocks. Each likely token, and
    each fifth of the kept bulk by probability (the last fifth at the nucleus' edge), is drawn
    with transformers' probability; no dropped token is. The top-p test sums one block at a time
    here (on Qwen's vocabulary, a fifth of it), so rows settle after one part, after several, or
    only at the end."""
    assert block_size(vocab) == (1125 if vocab == 4500 else 1024)
    monkeypatch.setattr(draw_module, "PART", 1024)
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(1, vocab, generator=generator) * 0.5
    likely = torch.arange(20) * 223 + 17
    logits[0, likely] += 4.0
    temperature, top_p = 0.6, 0.95
    expected = _transformers_probs(logits, temperature, 0, top_p, 0.0)[0]
    kept = expected > 0
    assert 1000 < int((~kept).sum()) < 3000, "the cut should fall inside the flat bulk"
    groups = torch.full((vocab,), -1)
    groups[likely] = torch.arange(20)
    bulk = kept.clone()
    bulk[likely] = False
    ranked = bulk.nonzero().view(-1)[expected[bulk].argsort()]
    for fifth, members in enumerate(ranked.tensor_split(5)):
        groups[members] = 20 + fifth
    draws = 40_000
    params = SamplingParams(max_tokens=1, temperature=temperature, top_p=top_p, repetition_penalty=1.0)
    tokens = _draw_many(logits, params, draws)
    assert not (~kept)[tokens].any()
    counts = torch.bincount(groups[tokens], minlength=25).double()
    want = torch.zeros(25, dtype=torch.float64).index_add_(0, groups[kept], expected[kept].double()) * draws
    chi2 = float(((counts - want) ** 2 / want).sum())
    assert chi2 < 3 * 24 + 30  # mean is the 24 degrees of freedom; far beyond the 99.99th percentile


def test_a_choice_on_the_calling_thread_alone_draws_the_same_and_leaves_the_threads_as_they_were(monkeypatch, request):
    """A row's choice runs on the calling thread alone (few logits) or on torch's intra-op
    threads: the same seeded tokens either way; the calling thread has its threads back after
    the choice, even when it raises, and a pool thread born meanwhile starts with the process's
    count, not the choice's one."""
    threads = torch.get_num_threads()
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    torch.set_num_threads(2)  # as on any multi-core machine
    pool = ThreadPoolExecutor(1, initializer=keep_torch_threads())
    request.addfinalizer(pool.shutdown)
    seen, born = [], []
    sample = sampler_module.sample

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        if not born:
            born.append(pool.submit(torch.get_num_threads).result())
        return sample(*args, **kwargs)

    monkeypatch.setattr(sampler_module, "sample", spy)
    logits = torch.randn(1, 151_936, generator=torch.Generator().manual_seed(4)) * 0.3
    history = torch.tensor([[1, 2, 3]])
    params = SamplingParams(max_tokens=1, temperature=0.6, top_p=0.95, repetition_penalty=1.05)

    def tokens(limit: int) -> list:
        monkeypatch.setattr(sampler_module, "SERIAL_LOGITS", limit)
        generator = torch.Generator().manual_seed(77)
        rows = [RowSampling(params, generator)]
        return [choose_tokens(logits.clone(), history, torch.tensor([[1.05]]), rows, [0])[0] for _ in range(20)]

    serial = tokens(151_936)
    assert set(seen) == {1} and born == [2] and torch.get_num_threads() == 2
    seen.clear()
    assert tokens(0) == serial  # every choice on the intra-op threads: the same tokens
    assert set(seen) == {2}
    monkeypatch.setattr(sampler_module, "SERIAL_LOGITS", 151_936)
    with pytest.raises(RuntimeError):
        choose_tokens(logits.clone(), torch.tensor([[10**9]]), torch.tensor([[1.05]]), [RowSampling(params, None)], [0])
    assert torch.get_num_threads() == 2


async def test_seeded_request_gives_the_same_tokens_alone_and_among_fifteen_others(loaded):
    from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine

    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=16, max_queued_requests=16))
    try:
        seeded = {"max_tokens": 12, "temperature": 0.6, "top_p": 0.95, "repetition_penalty": 1.05, "seed": 1234}
        alone = await collect(engine, "the seeded one", **seeded)
        crowd = await asyncio.gather(
            *[
                collect(
                    engine,
                    f"neighbour {i}",
                    max_tokens=12,
                    temperature=0.6,
                    top_p=0.95,
                    **({"seed": i} if i % 2 else {}),
                )
                for i in range(7)
            ],
            collect(engine, "the seeded one", **seeded),
            *[collect(engine, f"neighbour {i}", max_tokens=12, temperature=0.9, top_k=40) for i in range(8)],
        )
        assert crowd[7] == alone
    finally:
        await engine.shutdown()


def _row(**params):
    return RowSampling(SamplingParams(max_tokens=1, **params), None)
