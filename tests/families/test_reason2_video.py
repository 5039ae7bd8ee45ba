"""Reason2 video prompts: text timestamps per temporal patch in the transformers 4.57 / vLLM form
(no outer <|vision_start|>...<|vision_end|> wrapper), from the kept frames and the source's fps."""

from __future__ import annotations

import pytest
import torch

from cosmos_reason.engine.base import Conversation, Text, Turn, VideoInput
from cosmos_reason.engine.hf.inputs import build_inputs
from cosmos_reason.engine.hf.loading import load_model
from cosmos_reason.engine.hf.runner import ModelRunner
from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.media.video import DecodedVideo

START, END, PAD = "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"


@pytest.fixture(scope="module")
def loaded(reason2_model_dir):
    return load_model(str(reason2_model_dir), device="cpu")


def clip(indices: tuple[int, ...], fps: float, height: int = 64, width: int = 96) -> DecodedVideo:
    frames = torch.linspace(0, 255, len(indices) * 3 * height * width).to(torch.uint8)
    frames = frames.view(len(indices), 3, height, width).contiguous()
    return DecodedVideo(
        frames=frames,
        frame_indices=indices,
        sample_fps=4.0,
        fps=fps,
        total_frames=indices[-1] + 1,
        clip_frames=indices[-1] + 1,
        duration=(indices[-1] + 1) / fps,
        source_height=height,
        source_width=width,
    )


def conversation(*videos: DecodedVideo, text: str = "What happens?") -> Conversation:
    return Conversation((Turn("user", (*(VideoInput(v) for v in videos), Text(text))),))


def decoded_prompt(loaded, inputs) -> str:
    return loaded.processor.tokenizer.decode(inputs["input_ids"][0])


def test_each_temporal_patch_gets_its_time_and_no_outer_wrapper(loaded):
    # 8 frames kept at source indices 0, 6, 12, ... of a 24 fps clip: 4 temporal patches whose
    # times are the means of their two frames: 0.125 s, 0.625 s, 1.125 s, 1.625 s.
    video = clip(tuple(range(0, 48, 6)), fps=24.0)
    inputs = build_inputs(loaded.processor, conversation(video), REASON2)
    grid = inputs["video_grid_thw"].tolist()
    assert grid == [[4, 4, 6]]
    block = START + PAD * 6 + END
    times = ["<0.1 seconds>", "<0.6 seconds>", "<1.1 seconds>", "<1.6 seconds>"]
    expected = "<|im_start|>user\n" + "".join(t + block for t in times) + "What happens?<|im_end|>\n"
    assert expected in decoded_prompt(loaded, inputs)


def test_times_follow_the_sources_fps_not_the_24_fps_fallback(loaded):
    video = clip((0, 15, 30, 45), fps=30.0)
    prompt = decoded_prompt(loaded, build_inputs(loaded.processor, conversation(video), REASON2))
    assert "<0.2 seconds>" + START in prompt and "<1.2 seconds>" + START in prompt


def test_two_videos_each_get_their_own_times(loaded):
    first, second = clip((0, 12), fps=24.0), clip((24, 36, 48, 60), fps=12.0)
    prompt = decoded_prompt(loaded, build_inputs(loaded.processor, conversation(first, second), REASON2))
    assert prompt.count("seconds>") == 3 and prompt.count(START) == 3
    assert "<0.2 seconds>" in prompt and "<2.5 seconds>" in prompt and "<4.5 seconds>" in prompt
    assert START + START not in prompt and END + END not in prompt


def test_a_video_prompt_prefills_like_transformers_in_every_path(loaded):
    runner = ModelRunner(loaded.model)
    inputs = build_inputs(loaded.processor, conversation(clip(tuple(range(0, 48, 6)), fps=24.0)), REASON2)
    with torch.inference_mode():
        want = loaded.model(**inputs).logits[0, -1].float()
    torch.testing.assert_close(runner.prefill(inputs).logits, want, rtol=1e-4, atol=1e-4)
    state = runner.start_prefill(inputs)
    logits = None
    while logits is None:
        logits = runner.prefill_chunk(state, 5)
    torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)


def test_reason1_video_kwargs_are_unchanged():
    video = clip((0, 6), fps=24.0)
    assert REASON1.processor_video_kwargs([video])["video_metadata"] == [video.metadata]
    assert REASON1.processor_prompt is None


async def answer(engine, conv: Conversation, request_id: str) -> str:
    from cosmos_reason.engine.base import GenerationRequest, SamplingParams

    params = SamplingParams(max_tokens=10, temperature=0.0, repetition_penalty=1.0)
    return "".join([delta.text async for delta in engine.generate(GenerationRequest(request_id, conv, params))])


@pytest.mark.parametrize("prefill_budget", [8192, 16])
async def test_video_and_text_in_flight_equal_generate(loaded, prefill_budget):
    import asyncio

    from cosmos_reason.engine.hf.engine import BatchingLimits, HFEngine

    conversations = [
        conversation(clip(tuple(range(0, 48, 6)), fps=24.0)),
        conversation(text="hello there"),
        conversation(clip((0, 10, 20, 30), fps=20.0, height=96, width=64), text="And now?"),
    ]
    engine = HFEngine(loaded, BatchingLimits(max_num_seqs=8, max_queued_requests=8, max_prefill_tokens=prefill_budget))
    try:
        ours = await asyncio.gather(*[answer(engine, conv, f"r{i}") for i, conv in enumerate(conversations)])
    finally:
        await engine.shutdown()
    for conv, got in zip(conversations, ours, strict=False):
        inputs = build_inputs(loaded.processor, conv, REASON2)
        with torch.inference_mode():
            out = loaded.model.generate(**inputs, do_sample=False, max_new_tokens=10)
        assert got == loaded.processor.tokenizer.decode(
            out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )


def test_a_clip_over_the_processors_total_budget_is_resized_from_float_frames(loaded):
    """The Qwen3-VL video processor bounds T x H x W (25,165,824 pixels): a clip over it is resized
    again, and the reference hands it float32 frames (qwen-vl-utils), so ours must too."""
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (64, 3, 512, 832), dtype=torch.uint8)
    video = DecodedVideo(
        frames=frames,
        frame_indices=tuple(range(64)),
        sample_fps=4.0,
        fps=4.0,
        total_frames=64,
        clip_frames=64,
        duration=16.0,
        source_height=512,
        source_width=832,
    )
    ours = build_inputs(loaded.processor, conversation(video), REASON2)
    prompt = loaded.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    reference = loaded.processor(
        text=[REASON2.processor_prompt(prompt)],
        videos=[frames.float()],
        return_tensors="pt",
        **REASON2.processor_video_kwargs([video]),
    )
    assert ours["video_grid_thw"].tolist() == reference["video_grid_thw"].tolist() != [[32, 32, 52]]
    assert torch.equal(ours["pixel_values_videos"], reference["pixel_values_videos"])


def test_a_clip_within_the_budget_gives_what_float_frames_give(loaded):
    video = clip(tuple(range(0, 48, 6)), fps=24.0)
    ours = build_inputs(loaded.processor, conversation(video), REASON2)
    prompt = loaded.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    reference = loaded.processor(
        text=[REASON2.processor_prompt(prompt)],
        videos=[video.frames.float()],
        return_tensors="pt",
        **REASON2.processor_video_kwargs([video]),
    )
    assert torch.equal(ours["input_ids"], reference["input_ids"])
    assert torch.equal(ours["pixel_values_videos"], reference["pixel_values_videos"])
