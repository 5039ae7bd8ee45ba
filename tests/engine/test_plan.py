"""plan_step: what one iteration of the engine loop does, decided from plain numbers (no model)."""

from __future__ import annotations

from cosmos_reason.engine.hf.plan import Chunking, EngineState, Limits, Queued, StepPlan, plan_step

LIMITS = Limits(max_num_seqs=4, max_prefill_tokens=100)


def plan(*queued: Queued, limits: Limits = LIMITS, **state) -> StepPlan:
    return plan_step(EngineState(queued=queued, **state), limits)


def test_an_idle_engine_plans_nothing():
    assert plan() == StepPlan()


def test_running_rows_decode_when_the_queue_is_empty():
    assert plan(running=3) == StepPlan(decode=True)


def test_a_short_prompt_is_admitted_and_its_rows_decode():
    assert plan(Queued(20)) == StepPlan(batches=((0,),), decode=True)


def test_admission_stops_at_max_num_seqs_counting_running_rows_and_choices():
    assert plan(Queued(5), Queued(5, n=2), Queued(5), running=1).admitted == (0, 1)
    assert plan(Queued(5, n=2), Queued(5), running=3).admitted == ()  # in order: the head waits, so do the rest
    assert plan(Queued(5, n=4)).admitted == (0,)


def test_admission_stops_where_the_prefill_budget_runs_out():
    assert plan(Queued(40), Queued(50), Queued(20), Queued(5)).admitted == (0, 1)
    assert plan(Queued(100), Queued(1)).admitted == (0,)  # a prompt the size of the budget fills it


def test_short_prompts_share_forward_passes_whose_padded_size_fits_the_budget():
    assert plan(Queued(10), Queued(20), Queued(30)).batches == ((0, 1, 2),)  # 3 x 30 <= 100
    assert plan(Queued(10), Queued(40), Queued(45)).batches == ((0, 1), (2,))  # 3 x 45 > 100: two passes


def test_a_prompt_longer_than_the_budget_starts_in_chunks_and_takes_the_iteration():
    assert plan(Queued(250), Queued(5)) == StepPlan(start_chunked=0, decode=True)
    assert plan(Queued(30), Queued(250)).admitted == (0,)  # it waits for an iteration of its own
    assert plan(Queued(250, n=2), running=3).admitted == ()  # its rows must fit too


def test_a_chunked_prompt_goes_first_one_budget_at_a_time():
    assert plan(Queued(5), chunking=Chunking(remaining=150)) == StepPlan(chunk=100)
    assert plan(Queued(5), chunking=Chunking(remaining=150), running=2) == StepPlan(chunk=100, decode=True)


def test_a_chunked_prompts_last_chunk_leaves_the_rest_of_the_budget_to_the_queue():
    last = plan(Queued(30), chunking=Chunking(remaining=60))
    assert last == StepPlan(chunk=60, decode=True)  # its rows decode once they have joined
    assert plan(Queued(30), Queued(20), spent=last.chunk).admitted == (0,)  # 60 + 30 fit, + 20 does not
    assert plan(Queued(30), spent=100).admitted == ()


def test_aborted_requests_are_dropped_and_their_seats_freed():
    assert plan(Queued(5, aborted=True), Queued(5, n=4), running=2, aborted_rows=(0, 1)) == StepPlan(
        drop=(0,), abort_rows=(0, 1), batches=((1,),), decode=True
    )
    assert plan(running=2, aborted_rows=(1, 0)) == StepPlan(abort_rows=(0, 1))  # nothing left to decode


def test_an_aborted_chunked_prompt_is_dropped_and_the_queue_planned_instead():
    assert plan(Queued(5), chunking=Chunking(remaining=150, aborted=True)) == StepPlan(
        drop_chunking=True, batches=((0,),), decode=True
    )


def test_a_budget_of_one_token_still_makes_progress():
    one = Limits(max_num_seqs=4, max_prefill_tokens=1)
    assert plan(Queued(3), Queued(1), limits=one) == StepPlan(start_chunked=0, decode=True)
    assert plan(Queued(1), Queued(1), limits=one) == StepPlan(batches=((0,),), decode=True)
    assert plan(chunking=Chunking(remaining=2), limits=one) == StepPlan(chunk=1)
