"""Sampling settings on the real demo checkpoint: edge values, OpenAI's penalties and logit_bias,
and one request's sampling failure staying that request's."""

from __future__ import annotations

import asyncio

import pytest
import torch
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from cosmos_reason.engine.base import EngineError
from cosmos_reason.engine.sampler import apply_presence_frequency, filter_top_k_top_p

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
    poisoned = []

    @torch.inference_mode()
    def poison(rows):
        logits = decode(rows)
        for i, row in enumerate(rows):
            if row.group.request_id == "bad" and len(rows) == 4:
                logits[i] = float("nan")
                poisoned.append(row.generated)
        return logits

    monkeypatch.setattr(engine.scheduler.runner, "decode", poison)
    bad = asyncio.ensure_future(collect(engine, "bad one", request_id="bad", max_tokens=1000,
                                        ignore_eos=True, temperature=1.0, seed=1))
    await wait_for(lambda: engine.stats().running_rows == 1)
    crowd = asyncio.gather(*[collect(engine, q, max_tokens=10, ignore_eos=True) for q in others])
    with pytest.raises(EngineError, match="sampling failed"):
        await bad
    assert poisoned, "the bad row was never in a batch of four"
    assert list(await crowd) == alone
    assert (await collect(engine, "after", max_tokens=3, ignore_eos=True))[0]["tokens"] == 3


async def test_logit_bias_steers_greedy_choice(engine, loaded):
    free = await collect(engine, "hello", max_tokens=6, ignore_eos=True, repetition_penalty=1.0)
    forced_id = loaded.processor.tokenizer.convert_tokens_to_ids("ball")
    forced = await collect(engine, "hello", max_tokens=6, ignore_eos=True, repetition_penalty=1.0,
                           logit_bias=((forced_id, 100.0),))
    assert forced[0]["text"] == "ball" * 6 != free[0]["text"]


async def test_frequency_penalty_stops_repeats_the_free_run_has(engine):
    free = await collect(engine, "a b c d e f", max_tokens=24, ignore_eos=True, repetition_penalty=1.0,
                         logprobs=True)
    free_tokens = [e.token for e in free[0]["logprobs"]]
    assert len(set(free_tokens)) < len(free_tokens), "the tiny model no longer repeats; pick another prompt"
    for penalty in ({"frequency_penalty": 100.0}, {"presence_penalty": 100.0}):
        out = await collect(engine, "a b c d e f", max_tokens=24, ignore_eos=True, repetition_penalty=1.0,
                            logprobs=True, **penalty)
        tokens = [e.token for e in out[0]["logprobs"]]
        assert len(set(tokens)) == len(tokens), penalty


def test_presence_and_frequency_count_generated_tokens_only():
    logits = torch.zeros(2, 8)
    history = torch.tensor([[5, 1, 2, 2], [3, 3, 3, 4]])  # row 0: prompt [5], generated [1, 2, 2]
    rows = [_row(presence_penalty=0.5, frequency_penalty=1.0), _row(presence_penalty=0.25)]
    apply_presence_frequency(logits, history, [3, 1], rows)
    assert logits[0].tolist() == [0, -1.5, -2.5, 0, 0, 0, 0, 0]
    assert logits[1].tolist() == [0, 0, 0, 0, -0.25, 0, 0, 0]


@pytest.mark.parametrize("top_k, top_p, min_p", [(0, 1.0, 0.1), (20, 0.9, 0.05), (0, 0.95, 0.3), (50, 1.0, 0.0)])
def test_filters_equal_transformers_warpers(top_k, top_p, min_p):
    logits = torch.randn(1, 300, generator=torch.Generator().manual_seed(top_k + int(100 * min_p))) * 3
    expected = TemperatureLogitsWarper(0.7)(None, logits.clone())
    for warper in ([TopKLogitsWarper(top_k)] if top_k else []) + ([TopPLogitsWarper(top_p)] if top_p < 1 else []) \
            + ([MinPLogitsWarper(min_p)] if min_p else []):
        expected = warper(None, expected)
    ours = filter_top_k_top_p(logits[0] / 0.7, top_k, top_p, min_p)
    assert torch.equal(torch.isinf(ours), torch.isinf(expected[0]))
    kept = ~torch.isinf(ours)
    assert torch.allclose(ours[kept], expected[0][kept])


def _row(**params):
    from cosmos_reason.engine.base import SamplingParams
    from cosmos_reason.engine.sampler import RowSampling

    return RowSampling(SamplingParams(max_tokens=1, **params), None)
