"""The family registry: a checkpoint's model_type picks its family; anything else is refused by name."""

from __future__ import annotations

import pytest

from cosmos_reason.families.reason1 import REASON1
from cosmos_reason.families.registry import UnknownFamilyError, default_family, family_for_model_type, family_named


def test_reason1_serves_qwen2_5_vl_checkpoints_and_is_the_default() -> None:
    assert family_for_model_type("qwen2_5_vl") is REASON1
    assert default_family() is REASON1 and family_named("reason1") is REASON1


def test_an_unknown_checkpoint_is_refused_naming_what_is_served() -> None:
    with pytest.raises(UnknownFamilyError, match=r"'llama'.*Cosmos-Reason1.*qwen2_5_vl"):
        family_for_model_type("llama", "some/model")
    with pytest.raises(UnknownFamilyError, match="unknown model family 'reason9'; known: reason1"):
        family_named("reason9")


def test_reason1_values_are_the_model_cards() -> None:
    assert REASON1.geometry.token_side == 28 and REASON1.geometry.temporal_patch_size == 2
    assert (REASON1.video.fps, REASON1.video.total_pixels) == (4.0, 6_422_528)
    card = REASON1.sampling
    assert (card.temperature, card.top_p, card.repetition_penalty, card.max_tokens) == (0.6, 0.95, 1.05, 4096)
    assert REASON1.reasoning.placement == "system" and REASON1.reasoning.answer_start == "<answer>"


@pytest.mark.parametrize(
    ("name", "demo", "family"),
    [("Cosmos-Reason1-7B", "reason2_model_dir", "reason2"), ("Cosmos-Reason2-8B", "demo_model_dir", "reason1")],
)
def test_a_local_folder_is_the_family_of_its_config_whatever_its_name(name, demo, family, tmp_path, request) -> None:
    import shutil

    from cosmos_reason.engine.hf.loading import load_family

    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(request.getfixturevalue(demo) / "config.json", folder / "config.json")
    assert load_family(str(folder)).name == family
