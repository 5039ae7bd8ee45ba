"""`cosmos-reason eval` on a synthetic benchmark: a scripted engine answers each question right,
wrong or empty in known proportions, so accuracy, the retry rule and resume are checked exactly."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from cosmos_reason.engine.base import Delta
from cosmos_reason.jobs.evaluate import EvalJob, EvalSettings, parse_response, question_text, run_accuracy
from cosmos_reason.jobs.execution import RetryPolicy
from cosmos_reason.jobs.labels import EvalInputError, load_questions
from cosmos_reason.report.accuracy import accuracy_table
from tests.fakes import ScriptedEngine

from .conftest import FakeServer, read_lines, run_jobs, scripted_target, write_video

CHOICES = {"A": "The robot picks up the cup.", "B": "The robot drops the cup.", "C": "Nothing happens."}


def right(letter: str) -> str:
    return f"<think>\nI watched it.\n</think>\n\n<answer>\n{letter}\n</answer>"


# question -> (its source, the correct letter, the engine's replies in order; the last repeats)
SCRIPT: dict[str, tuple[str, str, list[str]]] = {
    "Q0?": ("robovqa", "A", [right("A")]),
    "Q1?": ("robovqa", "B", [right("B")]),
    "Q2?": ("robovqa", "C", [right("C")]),
    "Q3?": ("robovqa", "A", [right("B")]),  # wrong
    "Q4?": ("robovqa", "B", ["<think>hmm</think>", "no tags at all", right("B")]),  # empty twice, then right
    "Q5?": ("robovqa", "C", ["<think>\nendless thought"]),  # never an answer
    "Q6?": ("av", "A", [right("A")]),
    "Q7?": ("av", "B", [right("B")]),
    "Q8?": ("av", "C", [right("C")]),
    "Q9?": ("av", "A", [right("C")]),  # wrong
    "Q10?": ("av", "B", ["<think>b?</think><answer>I think (b)</answer>"]),  # wrong: the first capital is I
}


class QuizEngine(ScriptedEngine):
    """Answers each question with its scripted replies in turn, and records what each was asked."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        super().__init__()
        self.script = script
        self.asked: dict[str, list] = defaultdict(list)

    async def generate(self, request):
        self.requests.append(request)
        user = "".join(t.text() for t in request.conversation.turns if t.role == "user")
        question = next(q for q in self.script if user.startswith(q + "\n"))
        replies = self.script[question]
        reply = replies[min(len(self.asked[question]), len(replies) - 1)]
        self.asked[question].append(request)
        yield Delta(0, reply, 11, max(1, len(reply.split())), "stop")


def make_benchmark(root: Path, script=SCRIPT) -> Path:
    """<root>/<source>/<source>_benchmark_qa_pairs.json and clips/, one clip per question."""
    entries: dict[str, list] = defaultdict(list)
    for number, (question, (source, answer, _)) in enumerate(script.items()):
        write_video(root / source / "clips" / f"clip{number}.mp4", seconds=0.5, fps=4)
        entries[source].append(
            {
                "video": f"clips/clip{number}.mp4",
                "qa_pairs": {"question": question, "index2ans": CHOICES, "answer": answer},
            }
        )
    for source, items in entries.items():
        (root / source / f"{source}_benchmark_qa_pairs.json").write_text(json.dumps(items))
    return root


async def run_eval(questions, out: Path, engine, settings: EvalSettings | None = None, **kwargs) -> EvalJob:
    target = scripted_target(engine)
    job = EvalJob(
        questions,
        str(out),
        settings or EvalSettings(),
        target=target,
        quiet=True,
        policy=RetryPolicy(attempts=3, base=0.01, cap=0.02),
        **kwargs,
    )
    try:
        await job.run()
    finally:
        await target.aclose()
    return job


def quiz(script=SCRIPT) -> QuizEngine:
    return QuizEngine({q: replies for q, (_, _, replies) in script.items()})


async def test_accuracy_per_source_and_overall_with_empty_answers_retried(tmp_path: Path):
    bench = make_benchmark(tmp_path / "benchmark")
    questions = load_questions(str(bench))
    engine = quiz()
    out = tmp_path / "results.jsonl"
    job = await run_eval(questions, out, engine, concurrency=3)

    table = run_accuracy(str(out), questions)
    assert table["sources"]["robovqa"] == {"count": 6, "correct": 4, "accuracy": 4 / 6, "empty": 1, "errors": 0}
    assert table["sources"]["av"] == {"count": 5, "correct": 3, "accuracy": 3 / 5, "empty": 0, "errors": 0}
    assert table["overall"] == {"count": 11, "correct": 7, "accuracy": 7 / 11, "empty": 1, "errors": 0}
    # one request each, Q4 two empty answers then one more, Q5 the first request and 10 retries
    assert {q: len(r) for q, r in engine.asked.items()} == {q: {"Q4?": 3, "Q5?": 11}.get(q, 1) for q in SCRIPT}
    assert len(engine.requests) == 23
    assert (job.summary.done, job.summary.failed, job.summary.exit_code()) == (11, 0, 0)

    rows = {r["question"]: r for r in read_lines(out)}
    assert len(rows) == 11
    q4 = rows["Q4?"]
    assert (q4["answer"], q4["is_correct"], q4["empty_retries"], q4["correct_answer"]) == ("B", True, 2, "B")
    assert q4["full_response"] == right("B") and q4["reasoning"] == "I watched it."
    assert q4["usage"]["completion_tokens"] == sum(max(1, len(r.split())) for r in SCRIPT["Q4?"][2])
    q5 = rows["Q5?"]
    assert (q5["answer"], q5["is_correct"], q5["empty_retries"], q5["error"]) == ("", False, 10, None)
    q10 = rows["Q10?"]  # the benchmark's parser: the first capital letter inside <answer>
    assert (q10["answer"], q10["is_correct"], q10["reasoning"], q10["empty_retries"]) == ("I", False, "b?", 0)
    q9 = rows["Q9?"]
    assert (q9["answer"], q9["correct_answer"], q9["is_correct"]) == ("C", "A", False)
    # the benchmark's fields and annotate's, for the report
    for row in rows.values():
        assert row["datasource"] == row["source"] and row["video_id"].startswith("clip")
        assert row["choices"] == CHOICES and row["kind"] == "video" and row["error"] is None
        assert row["item"].endswith(f"{row['video_id']}.mp4") and row["parsed"] == {"letter": row["answer"] or None}
        assert row["question_id"] == f"{row['source']}/{row['video_id']}#0" and len(row["key"]) == 64


async def test_each_question_is_asked_as_the_benchmark_script_asks_it(tmp_path: Path):
    bench = make_benchmark(tmp_path / "benchmark")
    questions = load_questions(str(bench / "robovqa"))  # a source folder given directly
    assert {q.source for q in questions} == {"robovqa"} and len(questions) == 6
    engine = quiz()
    await run_eval(questions, tmp_path / "r.jsonl", engine)
    first, *retries = engine.asked["Q5?"]
    system, user = first.conversation.turns
    assert (system.role, system.text()) == ("system", "Answer the questions.")
    assert user.text() == (
        "Q5?\n(A) The robot picks up the cup.\n(B) The robot drops the cup.\n(C) Nothing happens.\n"
        "Answer with the option's letter from the given choices directly.\n"
        "Please answer the question in the following format: <think> your reasoning </think> "
        "<answer> your single letter answer </answer>."
    )
    assert len(first.conversation.videos()) == 1 and len(first.conversation.videos()[0].frames) == 2  # 0.5 s at fps 4
    s = first.sampling
    assert (s.temperature, s.top_p, s.max_tokens, s.seed, s.repetition_penalty) == (0.6, 0.95, 1024, 1, 1.0)
    # each retry: 256 more tokens and 0.05 hotter, up to 0.9
    assert [(r.sampling.max_tokens, round(r.sampling.temperature, 4)) for r in retries] == [
        (1024 + 256 * n, round(min(0.6 + 0.05 * n, 0.9), 4)) for n in range(1, 11)
    ]


async def test_letter_mode_is_greedy_with_ten_tokens_and_takes_the_first_capital(tmp_path: Path):
    script = {
        "Q0?": ("robovqa", "B", ["B"]),
        "Q1?": ("robovqa", "A", ["The answer is A"]),  # the benchmark's parser reads "T"
        "Q2?": ("robovqa", "C", ["", "C"]),
    }
    questions = load_questions(str(make_benchmark(tmp_path / "b", script)))
    engine = quiz(script)
    out = tmp_path / "r.jsonl"
    await run_eval(questions, out, engine, EvalSettings(reasoning=False))
    rows = {r["question"]: r for r in read_lines(out)}
    assert [(rows[q]["answer"], rows[q]["is_correct"]) for q in script] == [("B", True), ("T", False), ("C", True)]
    first = engine.asked["Q0?"][0]
    assert (first.sampling.temperature, first.sampling.top_k, first.sampling.max_tokens) == (0.0, 1, 10)
    user = first.conversation.turns[1].text()
    assert user.endswith("Answer with the option's letter from the given choices directly.") and "<think>" not in user
    retry = engine.asked["Q2?"][1].sampling
    assert (retry.max_tokens, retry.top_k) == (1280, 1)  # as run_model: the configured max_tokens + 256
    assert run_accuracy(str(out), questions)["overall"]["correct"] == 2


async def test_a_rerun_asks_only_what_the_file_lacks(tmp_path: Path):
    bench = make_benchmark(tmp_path / "benchmark")
    questions = load_questions(str(bench))
    out = tmp_path / "results.jsonl"
    await run_eval(questions, out, quiz())
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-2]) + lines[-2][:30])  # lose the last line, half-write the one before
    lost = {json.loads(line)["question"] for line in lines[-2:]}

    engine = quiz()
    job = await run_eval(questions, out, engine)
    assert set(engine.asked) == lost and job.summary.skipped == 9
    assert len(read_lines(out)) == 11
    assert run_accuracy(str(out), questions)["overall"]["correct"] == 7

    engine = quiz()
    job = await run_eval(questions, out, engine)
    assert engine.requests == [] and job.summary.skipped == 11


async def test_a_copied_line_is_scored_against_its_own_label(tmp_path: Path):
    """Two clips with the same bytes and question are asked once; each line keeps its own label."""
    script = {"Same?": ("robovqa", "A", [right("A")])}
    root = tmp_path / "b" / "robovqa"
    write_video(root / "clips" / "one.mp4", seconds=0.5, fps=4)
    write_video(root / "clips" / "two.mp4", seconds=0.5, fps=4)
    (root / "robovqa_benchmark_qa_pairs.json").write_text(
        json.dumps(
            [
                {"video": "clips/one.mp4", "qa_pairs": {"question": "Same?", "index2ans": CHOICES, "answer": "A"}},
                {"video": "clips/two.mp4", "qa_pairs": {"question": "Same?", "index2ans": CHOICES, "answer": "B"}},
            ]
        )
    )
    engine = quiz(script)
    out = tmp_path / "r.jsonl"
    await run_eval(load_questions(str(tmp_path / "b")), out, engine, concurrency=1)
    rows = {r["video_id"]: r for r in read_lines(out)}
    assert len(engine.requests) == 1 and rows["two"]["reused_from"].endswith("one.mp4")
    assert (rows["one"]["is_correct"], rows["two"]["is_correct"]) == (True, False)
    assert rows["two"]["correct_answer"] == "B" and rows["two"]["answer"] == "A"


# ---- input ----------------------------------------------------------------------


def test_bad_benchmark_files_are_named_with_the_entry(tmp_path: Path):
    root = tmp_path / "b" / "av"
    root.mkdir(parents=True)
    qa = root / "av_benchmark_qa_pairs.json"
    qa.write_text("[{")
    with pytest.raises(EvalInputError, match=r"av_benchmark_qa_pairs.json: not valid JSON"):
        load_questions(str(tmp_path / "b"))
    good = {"video": "clips/a.mp4", "qa_pairs": {"question": "Q?", "index2ans": CHOICES, "answer": "A"}}
    qa.write_text(json.dumps([good, {"video": "clips/b.mp4", "qa_pairs": {"index2ans": CHOICES, "answer": "A"}}]))
    with pytest.raises(EvalInputError, match=r"av_benchmark_qa_pairs.json: entry 1 \(clips/b.mp4\): no 'question'"):
        load_questions(str(tmp_path / "b"))
    qa.write_text(json.dumps([{**good, "qa_pairs": {"question": "Q?", "index2ans": CHOICES, "answer": "E"}}]))
    with pytest.raises(EvalInputError, match=r"entry 0 \(clips/a.mp4\): answer 'E' is not one of .*A, B, C"):
        load_questions(str(tmp_path / "b"))
    qa.write_text(json.dumps({"video": "x"}))
    with pytest.raises(EvalInputError, match="expected a JSON list"):
        load_questions(str(tmp_path / "b"))
    with pytest.raises(EvalInputError, match="no such file or folder"):
        load_questions(str(tmp_path / "missing"))
    with pytest.raises(EvalInputError, match="no source named holoassist"):
        load_questions(str(tmp_path / "b"), ["holoassist"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalInputError, match="benchmark_qa_pairs.json"):
        load_questions(str(tmp_path / "empty"))


def test_a_labelled_jsonl_or_csv_takes_choices_as_list_or_object_and_the_answer_as_letter_or_text(tmp_path: Path):
    write_video(tmp_path / "v.mp4")
    rows = [
        {"media": "v.mp4", "question": "Color?", "choices": ["red", "green"], "answer": "green", "source": "mine"},
        {"media": "v.mp4", "question": "Shape?", "choices": {"A": "round", "B": "square"}, "answer": "b", "id": "s1"},
    ]
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    first, second = load_questions(str(tmp_path / "set.jsonl"))
    assert (first.choices, first.answer, first.source, first.question_id) == (
        {"A": "red", "B": "green"},
        "B",
        "mine",
        "set.jsonl:1",
    )
    assert (second.answer, second.source, second.question_id, second.media) == (
        "B",
        "set",
        "s1",
        str(tmp_path / "v.mp4"),
    )
    (tmp_path / "set.csv").write_text(
        'media,question,choices,answer\nv.mp4,Color?,red|green|blue,C\nv.mp4,Q?,"[""x"",""y""]",x\n'
    )
    one, two = load_questions(str(tmp_path / "set.csv"))
    assert (one.choices, one.answer, two.choices, two.answer) == (
        {"A": "red", "B": "green", "C": "blue"},
        "C",
        {"A": "x", "B": "y"},
        "A",
    )
    (tmp_path / "bad.jsonl").write_text(json.dumps({**rows[0], "answer": "purple"}) + "\n")
    with pytest.raises(EvalInputError, match=r"bad.jsonl: line 1: answer 'purple' is not one of the choices"):
        load_questions(str(tmp_path / "bad.jsonl"))


def test_question_text_and_parser_match_the_benchmark():
    assert question_text("Q?", {"A": "x", "B": "y"}, reasoning=False) == (
        "Q?\n(A) x\n(B) y\nAnswer with the option's letter from the given choices directly."
    )
    assert parse_response("<think> r </think> <answer> b, then C </answer>", True) == ("C", "r")
    assert parse_response("<answer>A</answer><answer>B</answer>", True) == ("A", "")
    assert parse_response("A without tags", True) == ("", "")
    assert accuracy_table([{"is_correct": True, "answer": "A", "source": "x"}, {"other": 1}])["overall"]["count"] == 1


# ---- the command ---------------------------------------------------------------


@pytest.fixture(scope="module")
def answer_b_server():
    server = FakeServer(pieces=["<think>\nlooks like B\n</think>\n\n", "<answer>\nB\n</answer>"]).wait_ready()
    yield server
    server.stop()


def test_the_command_prints_and_writes_accuracy_and_compares_two_runs(tmp_path: Path, answer_b_server):
    bench = make_benchmark(tmp_path / "benchmark")  # the server answers B to all: Q1, Q4, Q7, Q10 are B
    out = tmp_path / "results.jsonl"
    args = ["eval", str(bench), "--out", str(out), "--server", answer_b_server.url, "--quiet"]
    result = run_jobs(*args)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["accuracy"]["overall"] == {"count": 11, "correct": 4, "accuracy": 4 / 11, "empty": 0, "errors": 0}
    assert last["accuracy"]["sources"]["av"]["correct"] == 2 and last["summary"]["done"] == 11
    written = json.loads((tmp_path / "results.accuracy.json").read_text())
    assert written["overall"]["correct"] == 4 and written["answer_type"] == "reasoning"
    assert "overall" in result.stderr and "36.36%" in result.stderr

    again = run_jobs(*args, "--sources", "av", "--summary", str(tmp_path / "av.json"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["summary"]["skipped"] == 5
    assert set(json.loads((tmp_path / "av.json").read_text())["sources"]) == {"av"}

    # a second run that knows better: Q0 right (A), Q1 wrong (A)
    rows = read_lines(out)
    other = tmp_path / "other.jsonl"
    for row in rows:
        if row["question"] in ("Q0?", "Q1?"):
            row["answer"], row["is_correct"] = "A", row["question"] == "Q0?"
    other.write_text("".join(json.dumps(r) + "\n" for r in rows))
    compared = run_jobs("eval", "--compare", str(out), str(other), "--html", str(tmp_path / "c.html"))
    assert compared.returncode == 0, compared.stderr
    report = json.loads((tmp_path / "results.vs.other.json").read_text())
    assert (report["both_correct"], report["only_a_correct"], report["only_b_correct"], report["both_wrong"]) == (
        3,
        1,
        1,
        6,
    )
    assert {d["question_id"] for d in report["disagreements"]} == {"robovqa/clip0#0", "robovqa/clip1#0"}
    assert all(d["item"].endswith(".mp4") for d in report["disagreements"])
    assert report["b"]["accuracy"]["overall"]["correct"] == 4
    assert "robovqa/clip1#0" in (tmp_path / "c.html").read_text()
    assert json.loads(compared.stdout.splitlines()[-1])["reports"] == [str(tmp_path / f"c.{s}.html") for s in "AB"]


def test_one_line_errors(tmp_path: Path):
    result = run_jobs("eval", str(tmp_path / "nope"), "--out", str(tmp_path / "o.jsonl"), "--server", "http://x")
    assert result.returncode == 1 and result.stderr.strip().endswith("nope: no such file or folder")
    bench = tmp_path / "b" / "av"
    bench.mkdir(parents=True)
    (bench / "av_benchmark_qa_pairs.json").write_text(
        json.dumps([{"video": "clips/gone.mp4", "qa_pairs": {"question": "Q?", "index2ans": CHOICES, "answer": "A"}}])
    )
    result = run_jobs("eval", str(tmp_path / "b"), "--out", str(tmp_path / "o.jsonl"), "--server", "http://x")
    assert result.returncode == 1 and "none of the 1 questions' clips is there" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_jobs("eval", "--help")
    assert result.returncode == 0 and "example:" in result.stdout and "--no-reasoning" in result.stdout


@pytest.mark.e2e
def test_on_the_demo_model_in_process(tmp_path: Path, demo_model_dir, demo_cache_dir):
    """Random weights: the answers mean nothing, but the run completes, every line is well formed
    and the accuracy is computed over both questions."""
    script = {"Q0?": ("robovqa", "A", []), "Q1?": ("av", "B", [])}
    bench = make_benchmark(tmp_path / "benchmark", script)
    out = tmp_path / "demo.jsonl"
    args = ["eval", str(bench), "--out", str(out), "--model", "demo", "--no-reasoning", "--empty-retries", "1"]
    result = run_jobs(*args, "--max-tokens", "4", "--quiet", env={"COSMOS_REASON_CACHE": str(demo_cache_dir)})
    assert result.returncode == 0, result.stderr
    rows = read_lines(out)
    assert sorted(r["question"] for r in rows) == ["Q0?", "Q1?"]
    for row in rows:
        assert row["error"] is None and row["model"] == "cosmos-reason1-demo" and row["kind"] == "video"
        assert row["usage"]["prompt_tokens"] > 50 and isinstance(row["full_response"], str)
        assert row["is_correct"] == (row["answer"] == row["correct_answer"]) and row["empty_retries"] in (0, 1)
    table = json.loads((tmp_path / "demo.accuracy.json").read_text())
    assert table["overall"]["count"] == 2 and table["overall"]["correct"] == sum(r["is_correct"] for r in rows)
    assert set(table["sources"]) == {"robovqa", "av"}


async def test_a_labelled_set_with_a_missing_file_gets_an_error_line_counted_as_wrong(tmp_path: Path):
    write_video(tmp_path / "clip.mp4", seconds=0.5, fps=4)
    rows = [
        {"media": "clip.mp4", "question": "Q0?", "choices": ["up", "down"], "answer": "up"},
        {"media": "gone.mp4", "question": "Q1?", "choices": ["up", "down"], "answer": "B"},
    ]
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    questions = load_questions(str(tmp_path / "set.jsonl"))
    out = tmp_path / "r.jsonl"
    job = await run_eval(questions, out, QuizEngine({"Q0?": [right("A")], "Q1?": [right("B")]}))
    lines = {r["question"]: r for r in read_lines(out)}
    assert lines["Q0?"]["is_correct"] is True and lines["Q0?"]["source"] == "set"
    assert "gone.mp4" in lines["Q1?"]["error"]["message"] and lines["Q1?"]["is_correct"] is False
    assert run_accuracy(str(out), questions)["overall"] == {
        "count": 2,
        "correct": 1,
        "accuracy": 0.5,
        "empty": 0,
        "errors": 1,
    }
    assert job.summary.exit_code() == 4


def test_kill_9_mid_run_then_rerun_gives_one_line_per_question(tmp_path: Path):
    import signal
    import subprocess
    import time

    from .conftest import ROOT, jobs_command

    bench = make_benchmark(tmp_path / "benchmark")
    out = tmp_path / "results.jsonl"
    args = ["eval", str(bench), "--out", str(out), "--concurrency", "2", "--quiet"]
    server = FakeServer(pieces=["<answer>B</answer>"], gate=0).wait_ready()
    try:
        proc = subprocess.Popen(
            jobs_command(*args, "--server", server.url), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server.allow(4)  # the rest wait at the server: the job cannot finish before the kill
        deadline = time.monotonic() + 120
        while not out.exists() or out.read_bytes().count(b"\n") < 4:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        server.allow(all=True)
        result = run_jobs(*args, "--server", server.url)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["summary"]["skipped"] == 4 and last["summary"]["done"] == 7
    rows = read_lines(out)
    assert sorted(r["question_id"] for r in rows) == sorted({r["question_id"] for r in rows}) and len(rows) == 11
    assert last["accuracy"]["overall"]["correct"] == 4


async def test_a_clip_named_by_several_entries_has_each_question_asked_and_told_apart(tmp_path: Path):
    root = tmp_path / "b" / "robovqa"
    write_video(root / "clips" / "c.mp4", seconds=0.5, fps=4)
    entries = [
        {"video": "clips/c.mp4", "qa_pairs": {"question": "First?", "index2ans": CHOICES, "answer": "A"}},
        {"video": "clips/c.mp4", "qa_pairs": [{"question": "Second?", "index2ans": CHOICES, "answer": "B"}]},
    ]
    (root / "robovqa_benchmark_qa_pairs.json").write_text(json.dumps(entries))
    questions = load_questions(str(tmp_path / "b"))
    assert [q.question_id for q in questions] == ["robovqa/c#0", "robovqa/c#1"]
    out = tmp_path / "r.jsonl"
    await run_eval(questions, out, QuizEngine({"First?": [right("A")], "Second?": [right("A")]}))
    assert sorted((r["question_id"], r["is_correct"]) for r in read_lines(out)) == [
        ("robovqa/c#0", True),
        ("robovqa/c#1", False),
    ]


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_the_same_question_twice_of_one_clip_gets_two_lines(tmp_path: Path, concurrency: int):
    root = tmp_path / "b" / "robovqa"
    write_video(root / "clips" / "c.mp4", seconds=0.5, fps=4)
    qa = {"question": "Again?", "index2ans": CHOICES, "answer": "A"}
    entries = [{"video": "clips/c.mp4", "qa_pairs": [qa, {**qa, "answer": "C"}]}]
    (root / "robovqa_benchmark_qa_pairs.json").write_text(json.dumps(entries))
    questions = load_questions(str(tmp_path / "b"))
    out = tmp_path / "r.jsonl"
    engine = QuizEngine({"Again?": [right("A")]})
    await run_eval(questions, out, engine, concurrency=concurrency)
    assert sorted((r["question_id"], r["is_correct"]) for r in read_lines(out)) == [
        ("robovqa/c#0", True),
        ("robovqa/c#1", False),
    ]
    assert len(engine.requests) == 2
    engine = QuizEngine({"Again?": [right("A")]})
    job = await run_eval(questions, out, engine)
    assert engine.requests == [] and job.summary.skipped == 2


async def test_a_retry_the_server_refuses_leaves_the_answer_empty(tmp_path: Path):
    """A model whose context has room for 2048 new tokens refuses the 5th retry (1024 + 256 * 5)."""
    from cosmos_reason.engine.base import MaxTokensTooLargeError

    class SmallContext(QuizEngine):
        async def generate(self, request):
            if request.sampling.max_tokens > 2048:
                self.asked["refused"].append(request)
                raise MaxTokensTooLargeError(request.sampling.max_tokens, 11, 2059)
            async for delta in super().generate(request):
                yield delta

    script = {"Q0?": ("robovqa", "A", ["nothing"])}
    questions = load_questions(str(make_benchmark(tmp_path / "b", script)))
    engine = SmallContext({"Q0?": ["nothing"]})
    out = tmp_path / "r.jsonl"
    job = await run_eval(questions, out, engine)
    (row,) = read_lines(out)
    assert (row["error"], row["answer"], row["is_correct"], row["empty_retries"]) == (None, "", False, 5)
    assert (len(engine.asked["Q0?"]), len(engine.asked["refused"])) == (5, 1) and job.summary.exit_code() == 0
