"""What the page shows for each kind of line: annotate, critic, run-batch, eval."""

from cosmos_reason.report.view import view
from tests.report.sample import annotate_rows, critic_rows, eval_rows, row


def shown(line: dict, file: str = "/runs/r.jsonl") -> dict:
    return view({**line, "_file": file, "_line": 1}, 0)


def test_annotate_line_score_parse_error_and_error():
    lines = annotate_rows()
    assert shown(lines[1])["score"] == 4.0 and shown(lines[1])["task"] == "plausibility"
    assert shown(lines[2])["parse_error"] == "no score 1-5 in the answer" and shown(lines[2])["score"] is None
    assert shown(lines[3])["error"] == "input: not a recognized image or video"
    assert shown(row("a.mp4", task="critic", critic_score=0.5, parsed={"anomaly": False}))["score"] == 0.5


def test_n_answers_become_samples():
    choices = [{"content": "Yes", "reasoning": "r1", "finish_reason": "stop"}, {"content": "No", "reasoning": None}]
    samples = shown(row("a.mp4", choices=choices))["samples"]
    assert [s["content"] for s in samples] == ["Yes", "No"]


def test_critic_line_is_a_scored_candidate_with_its_reviews():
    best, _, failed = (shown(line) for line in critic_rows())
    assert (best["name"], best["task"], best["score"], best["rank"]) == ("clips/arm.mp4", "critic", 0.75, 1)
    assert best["samples"][0] == {"content": "No", "reasoning": best["samples"][0]["reasoning"], "note": "no anomaly"}
    assert failed["rank"] is None and failed["error"] == "input: cannot read clips/gone.mp4"
    assert best["path"].startswith("/") and best["path"].endswith("/clips/arm.mp4")


def test_run_batch_line_shows_the_response_message_or_its_error():
    ok = {
        "id": "b1",
        "custom_id": "req-1",
        "response": {
            "status_code": 200,
            "request_id": "x",
            "body": {
                "model": "m",
                "choices": [{"message": {"content": "A cup.", "reasoning_content": "I see"}, "finish_reason": "stop"}],
            },
        },
        "error": None,
    }
    bad = {
        "id": "b2",
        "custom_id": "req-2",
        "response": {"status_code": 400, "body": {"error": {"message": "bad image", "type": "invalid_request_error"}}},
        "error": None,
    }
    first, second = shown(ok), shown(bad)
    assert (first["name"], first["task"], first["content"], first["reasoning"]) == ("req-1", "batch", "A cup.", "I see")
    assert first["path"] is None and first["error"] is None
    assert second["error"] == "invalid_request_error: bad image" and second["content"] is None


def test_eval_line_has_its_choices_and_correctness():
    line = shown(eval_rows()[1])
    assert line["options"] == {"A": "It lifts the cup", "B": "It drops the cup", "C": "It stops"}
    assert (line["answer"], line["correct_answer"], line["is_correct"], line["source"]) == ("B", "A", False, "robovqa")
    assert line["task"] == "eval"


def test_a_url_item_has_no_local_path():
    line = shown(row("https://example.com/clips/a.mp4", content="x"))
    assert line["url"] == "https://example.com/clips/a.mp4" and line["path"] is None
