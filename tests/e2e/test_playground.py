"""The web playground at `/`, in real headless Chromium (Debian's chromium driven by Playwright).

Most tests use the real server process on the demo checkpoint (`server`, with an API
key). The demo model never writes <think> tags, so the reasoning panel and a
mid-stream error are checked against the app run in-process on a scripted engine.
The reasoning test also takes the README's screenshot; it replaces docs/playground.png only
with UPDATE_SCREENSHOT=1, so a test run leaves the tree as it was.

`make test` installs /usr/bin/chromium when it is missing; without it these tests
fail (never skip), so a CI run cannot pass without having tried the page.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from cosmos_reason.engine.base import EngineError, ModelInfo
from cosmos_reason.families.reason2 import REASON2
from cosmos_reason.server.app import create_app
from cosmos_reason.settings import Settings
from tests.fakes import ScriptedEngine
from tests.media_factory import data_uri, mp4_bytes, png_bytes

from .conftest import API_KEY, MODEL_NAME, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("COSMOS_REASON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "playground.png"
LAPTOP = {"width": 1280, "height": 800}
WIDE_LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
TOUCH = {"has_touch": True, "is_mobile": True}  # a phone: touch screen, no mouse, no keyboard
ANSWER_TIMEOUT_MS = 120_000
REASONING_PIECES = ["<think>\n", "The ball ", "falls.", "\n</think>\n\n<answer>\n", "Yes", "\n</answer>"]
FOLLOW_UP_QUESTION = "Where will it land, and when?"
FOLLOW_UP_REASONING = (
    "The ball rolls right at a steady speed and nothing stops it at the table's edge. "
    "Once it leaves the edge it keeps its horizontal speed while gravity pulls it down, "
    "so it follows a parabola. The table is about 0.75 m high: falling that far takes "
    "sqrt(2 × 0.75 / 9.8) ≈ 0.39 s, during which it moves a little further right."
)
FOLLOW_UP_ANSWER = (
    "It lands on the floor just to the right of the table, about 0.4 s after "
    "leaving the edge, then bounces and keeps rolling right."
)


# ---- browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium), "
            "or install Debian's chromium package yourself"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A browser page plus what it did: JS errors, console errors and the chat requests it sent."""

    def __init__(self, browser, viewport: dict[str, int], **context_options) -> None:
        self.context = browser.new_context(viewport=viewport, **context_options)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.js_errors: list[str] = []
        self.chat_requests: list[dict] = []
        self.urls: list[str] = []
        self.page.on("pageerror", lambda error: self.js_errors.append(str(error)))
        self.page.on("request", self._record)

    def _record(self, request) -> None:
        self.urls.append(request.url)
        if request.url.endswith("/v1/chat/completions"):
            self.chat_requests.append({"headers": request.headers, "body": json.loads(request.post_data)})


@pytest.fixture
def browser_page(browser) -> Iterator[Page]:
    page = Page(browser, LAPTOP)
    yield page
    page.context.close()
    assert page.js_errors == [], f"JavaScript errors on the page: {page.js_errors}"


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


# ---- media --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("playground-media")
    files = {
        "image": ("photo.png", png_bytes()),
        "video": ("ball.mp4", mp4_bytes(seconds=2.0)),
        "garbage": ("broken.png", os.urandom(2048)),
        "ball": ("ball_on_table.mp4", ball_video()),
    }
    paths = {}
    for kind, (name, data) in files.items():
        paths[kind] = root / name
        paths[kind].write_bytes(data)
    return paths


def ball_video(seconds: float = 2.0, fps: int = 12, width: int = 320, height: int = 240) -> bytes:
    """A red ball rolling off a table, for a screenshot that shows what the page is for."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = int(seconds * fps)
        for i in range(frames):
            t = i / (frames - 1)
            image = Image.new("RGB", (width, height), (214, 228, 240))
            draw = ImageDraw.Draw(image)
            draw.rectangle((0, 200, width, height), fill=(150, 140, 125))  # floor
            draw.rectangle((20, 120, 190, 132), fill=(120, 78, 42))  # table top
            draw.rectangle((35, 132, 47, 200), fill=(100, 64, 34))
            draw.rectangle((163, 132, 175, 200), fill=(100, 64, 34))
            x = 60 + 220 * t
            y = 108 if x < 190 else min(188, 108 + 0.012 * (x - 190) ** 2)
            draw.ellipse((x - 12, y - 12, x + 12, y + 12), fill=(210, 40, 40))
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# ---- the app in-process on a scripted engine ----------------------------------------------------


class InProcessServer:
    """uvicorn in a background thread on a free localhost port."""

    def __init__(self, engine, **settings) -> None:
        self.engine = engine
        port = free_port()
        app = create_app(
            Settings(model="/scripted", served_model_names=("cosmos-reason1-scripted",), **settings), engine
        )
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("in-process server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class ScreenshotEngine(ScriptedEngine):
    """A scripted engine that does not call itself random, so the screenshot has no demo banner."""

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(source="/scripted", context_length=4096, random_weights=False, description="scripted")


def scripted_pieces(reasoning: str, answer: str) -> list[str]:
    words = [word + " " for word in reasoning.split(" ")]
    return ["<think>\n", *words, "\n</think>\n\n<answer>\n", *[w + " " for w in answer.split(" ")], "\n</answer>"]


class FailsMidStream(ScriptedEngine):
    """Streams its pieces, then the engine breaks: the client gets a `data: {"error": ...}` event."""

    async def generate(self, request):
        async for delta in super().generate(request):
            yield delta
            if delta.completion_tokens == len(self.pieces):
                raise EngineError("the GPU fell off the bus")


# ---- helpers ----------------------------------------------------------------------------------


def enter_key(page, key: str = API_KEY) -> None:
    expect(page.locator("#key-dialog")).to_be_visible()
    page.fill("#api-key", key)
    page.click("#save-key")


def ask(page, question: str, turn: int) -> object:
    """Asks and waits until answer `turn` (1-based) has finished; returns that turn's locator."""
    page.fill("#question", question)
    page.click("#ask")
    answer = page.locator(".turn").nth(turn - 1)
    expect(answer.locator(".stats")).to_contain_text("total", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    return answer


def record_streaming(page) -> None:
    """Keeps every distinct text the answer and reasoning boxes show, to prove they grow live."""
    page.evaluate("""() => {
        window.__seen = {answer: [], reasoning: []};
        const keep = (list, text) => { if (text && list[list.length - 1] !== text) list.push(text); };
        new MutationObserver(() => {
            for (const el of document.querySelectorAll('.answer')) keep(window.__seen.answer, el.textContent);
            for (const el of document.querySelectorAll('.reasoning-text')) {
                keep(window.__seen.reasoning, el.textContent);
            }
        }).observe(document.getElementById('transcript'), {subtree: true, childList: true, characterData: true});
    }""")


# ---- against the real server on the demo checkpoint ----------------------------------------------


def test_key_prompt_image_answer_follow_up_and_video(server, browser_page: Page, media):
    page = browser_page.page
    page.goto(server.url + "/")

    # The server has keys: the page asks for one, refuses a wrong one with the server's message.
    enter_key(page, "not-the-key")
    expect(page.locator("#key-error")).to_contain_text("Invalid API key")
    enter_key(page)
    expect(page.locator("#key-dialog")).to_be_hidden()
    expect(page.locator("#model-name")).to_have_text(MODEL_NAME)
    expect(page.locator("#demo-banner")).to_contain_text("random weights")
    assert page.evaluate("sessionStorage.getItem('cosmos-reason.api-key')") == API_KEY

    # An image, previewed with its size, then a streamed answer with token counts and timings.
    page.set_input_files("#media-input", str(media["image"]))
    expect(page.locator("#preview-image")).to_be_visible()
    size_kb = media["image"].stat().st_size / 1024
    expect(page.locator("#media-info")).to_have_text(f"photo.png · {size_kb:.1f} KB · 64 × 48")
    page.fill("#max-tokens", "12")
    page.fill("#seed", "7")
    first = ask(page, "What is in the picture?", 1)
    stats = first.locator(".stats").inner_text()
    for label in ("prompt tokens", "completion tokens", "total tokens", "first token", "total "):
        assert label in stats, stats
    first_answer = first.locator(".answer").text_content()
    assert first_answer.strip(), "the answer stayed blank"
    expect(first.locator(".turn-error")).to_be_hidden()

    # A follow-up about the same image: the media stays in the first user turn only.
    ask(page, "And what colour is it?", 2)
    follow_up = browser_page.chat_requests[-1]
    messages = follow_up["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [p["type"] for p in messages[0]["content"]] == ["image_url", "text"]
    assert messages[0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert messages[1] == {"role": "assistant", "content": first_answer}
    assert messages[2]["content"] == "And what colour is it?"
    body = follow_up["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 12 and body["seed"] == 7 and body["model"] == MODEL_NAME
    # The key travels in the Authorization header only, never in a URL.
    assert follow_up["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert not [url for url in browser_page.urls if API_KEY in url]

    # A video starts a new conversation; its preview shows the duration.
    page.click("#new-chat")
    expect(page.locator(".turn")).to_have_count(0)
    page.set_input_files("#media-input", str(media["video"]))
    expect(page.locator("#preview-video")).to_be_visible()
    expect(page.locator("#media-info")).to_contain_text("2.0 s")
    page.fill("#fps", "4")
    video_turn = ask(page, "What happens in the video?", 1)
    expect(video_turn.locator(".stats")).to_contain_text("completion tokens")
    messages = browser_page.chat_requests[-1]["body"]["messages"]
    assert len(messages) == 1
    part = messages[0]["content"][0]
    assert part["type"] == "video_url" and part["video_url"]["fps"] == 4
    assert part["video_url"]["url"].startswith("data:video/mp4;base64,")


def test_too_large_file_is_refused_before_upload(server, browser_page: Page, tmp_path):
    limit = httpx.get(f"{server.url}/ui/config.json").json()["max_upload_bytes"]
    big = tmp_path / "huge.mp4"
    with big.open("wb") as f:  # sparse: nothing is written, the size is all that matters
        f.truncate(limit + 1)
    page = browser_page.page
    page.goto(server.url + "/")
    enter_key(page)
    expect(page.locator("#model-name")).to_have_text(MODEL_NAME)
    page.set_input_files("#media-input", str(big))
    expect(page.locator("#media-error")).to_contain_text("huge.mp4 is too large")
    expect(page.locator("#media-error")).to_contain_text("accepts files up to")
    expect(page.locator("#preview")).to_be_hidden()
    assert browser_page.chat_requests == []


def test_server_error_message_is_shown(server, browser_page: Page, media):
    # What the server says about a file that is no image, asked directly.
    garbage = data_uri(media["garbage"].read_bytes(), "image/png")
    direct = httpx.post(
        f"{server.url}/v1/chat/completions",
        timeout=60,
        headers={"authorization": f"Bearer {API_KEY}"},
        json={
            "model": MODEL_NAME,
            "stream": True,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": garbage}},
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        },
    )
    assert direct.status_code == 400
    message = direct.json()["error"]["message"]

    page = browser_page.page
    page.goto(server.url + "/")
    enter_key(page)
    page.set_input_files("#media-input", str(media["garbage"]))
    page.fill("#question", "What is this?")
    page.click("#ask")
    error = page.locator(".turn .turn-error")
    expect(error).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(error).to_contain_text(message)
    expect(page.locator("#ask")).to_be_enabled()
    # The failed turn is not part of the conversation; the question is back for a retry.
    expect(page.locator("#question")).to_have_value("What is this?")


def test_reason2_lists_its_tasks_and_sampling_and_answers_an_image(reason2_server, browser_page: Page, media):
    page = browser_page.page
    page.goto(reason2_server.url + "/")
    expect(page.locator("#key-dialog")).to_be_hidden()  # no keys on this server
    expect(page.locator("#model-name")).to_have_text("cosmos-reason2-demo")
    expect(page.locator("#demo-banner")).to_contain_text("random weights")
    titles = [recipe.title for recipe in REASON2.recipes.values()]
    expect(page.locator("#task option")).to_have_text(["Free prompt", *titles])
    # Reason2's card samples by mode: 0.7 / 0.8 without reasoning, 0.6 / 0.95 with.
    expect(page.locator("#temperature")).to_have_attribute("placeholder", "0.7")
    expect(page.locator("#top-p")).to_have_attribute("placeholder", "0.8")
    page.check("#reasoning")
    expect(page.locator("#temperature")).to_have_attribute("placeholder", "0.6")
    expect(page.locator("#top-p")).to_have_attribute("placeholder", "0.95")
    page.uncheck("#reasoning")

    page.set_input_files("#media-input", str(media["image"]))
    expect(page.locator("#preview-image")).to_be_visible()
    page.fill("#max-tokens", "8")
    turn = ask(page, "What is in the picture?", 1)
    assert turn.locator(".answer").text_content().strip(), "the answer stayed blank"
    expect(turn.locator(".turn-error")).to_be_hidden()
    expect(turn.locator(".stats")).to_contain_text("completion tokens")
    body = browser_page.chat_requests[-1]["body"]
    assert body["model"] == "cosmos-reason2-demo" and body["reasoning"] is False
    assert [part["type"] for part in body["messages"][0]["content"]] == ["image_url", "text"]


# ---- in-process, on a scripted engine --------------------------------------------------------------


def test_reasoning_streams_into_its_panel_follow_up_and_screenshot(browser_page: Page, media, tmp_path):
    engine = ScreenshotEngine(pieces=REASONING_PIECES, prompt_tokens=1287, delay=0.15)
    with InProcessServer(engine) as app:
        page = browser_page.page
        page.goto(app.url + "/")
        expect(page.locator("#model-name")).to_have_text("cosmos-reason1-scripted")
        expect(page.locator("#key-dialog")).to_be_hidden()  # no keys on this server: no prompt
        expect(page.locator("#change-key")).to_be_hidden()
        expect(page.locator("#demo-banner")).to_be_hidden()

        page.set_input_files("#media-input", str(media["ball"]))
        expect(page.locator("#media-info")).to_contain_text("320 × 240 · 2.0 s")
        page.check("#reasoning")
        record_streaming(page)
        turn = ask(page, "Will the ball fall off the table?", 1)

        reasoning = turn.locator(".reasoning")
        expect(reasoning).to_be_visible()
        expect(reasoning.locator(".reasoning-text")).to_have_text("The ball falls.")
        expect(turn.locator(".answer")).to_have_text("Yes")
        expect(turn.locator(".stats")).to_contain_text("1287 prompt tokens")
        expect(turn.locator(".stats")).to_contain_text("6 completion tokens")
        seen = page.evaluate("window.__seen")
        assert seen["reasoning"][0] == "The ball", f"reasoning did not stream: {seen}"
        assert seen["reasoning"][-1] == "The ball falls."
        request = browser_page.chat_requests[-1]
        assert request["body"]["reasoning"] is True
        assert "authorization" not in request["headers"]

        # The reasoning panel folds away.
        reasoning.locator("summary").click()
        expect(reasoning.locator(".reasoning-text")).to_be_hidden()
        reasoning.locator("summary").click()
        expect(reasoning.locator(".reasoning-text")).to_be_visible()

        # A follow-up: the history carries the answer, not the reasoning.
        engine.pieces = scripted_pieces(FOLLOW_UP_REASONING, FOLLOW_UP_ANSWER)
        engine.delay = 0.01
        second = ask(page, FOLLOW_UP_QUESTION, 2)
        expect(second.locator(".reasoning-text")).to_have_text(FOLLOW_UP_REASONING)
        expect(second.locator(".answer")).to_have_text(FOLLOW_UP_ANSWER)
        messages = browser_page.chat_requests[-1]["body"]["messages"]
        assert messages[1] == {"role": "assistant", "content": "Yes"}
        assert messages[2] == {"role": "user", "content": FOLLOW_UP_QUESTION}

        shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")


def test_reason2s_reasoning_has_its_panel_and_the_answer_after_think_is_the_answer(browser_page: Page, media):
    # Reason2 writes no <answer> tag: everything after </think> is the answer.
    pieces = ["<think>\n", "The cup ", "tips over.", "\n</think>\n\n", "It ", "falls."]
    with InProcessServer(ScriptedEngine(pieces=pieces, family=REASON2, delay=0.02)) as app:
        page = browser_page.page
        page.goto(app.url + "/")
        page.set_input_files("#media-input", str(media["image"]))
        page.check("#reasoning")
        turn = ask(page, "Does the cup fall?", 1)
        reasoning = turn.locator(".reasoning")
        expect(reasoning.locator(".reasoning-text")).to_have_text("The cup tips over.")
        expect(turn.locator(".answer")).to_have_text("It falls.")
        reasoning.locator("summary").click()
        expect(reasoning.locator(".reasoning-text")).to_be_hidden()
        assert browser_page.chat_requests[-1]["body"]["reasoning"] is True


def test_mid_stream_error_event_is_shown(browser_page: Page, media):
    engine = FailsMidStream(pieces=["The ball ", "rolls"], delay=0.05)
    with InProcessServer(engine) as app:
        page = browser_page.page
        page.goto(app.url + "/")
        page.set_input_files("#media-input", str(media["image"]))
        page.fill("#question", "What happens next?")
        page.click("#ask")
        turn = page.locator(".turn").first
        expect(turn.locator(".turn-error")).to_contain_text("the GPU fell off the bus", timeout=ANSWER_TIMEOUT_MS)
        expect(turn.locator(".answer")).to_have_text("The ball rolls")  # what came before stays
        expect(page.locator("#ask")).to_be_enabled()


def test_phone_width_has_one_column_and_no_sideways_scroll(browser, media):
    engine = ScriptedEngine(pieces=["A ball ", "on a table."])
    with InProcessServer(engine) as app:
        page = Page(browser, PHONE)
        try:
            page.page.goto(app.url + "/")
            page.page.set_input_files("#media-input", str(media["image"]))
            turn = ask(page.page, "What is in the picture?", 1)
            expect(turn.locator(".answer")).to_have_text("A ball on a table.")
            layout = page.page.evaluate("""() => ({
                scroll: document.documentElement.scrollWidth, width: window.innerWidth,
                setup: document.querySelector('.setup').getBoundingClientRect().toJSON(),
                chat: document.querySelector('.chat').getBoundingClientRect().toJSON()})""")
            assert layout["scroll"] <= layout["width"], layout
            assert layout["chat"]["top"] >= layout["setup"]["bottom"], "panels should stack on a phone"
        finally:
            page.context.close()
        assert page.js_errors == []


def test_on_a_touch_phone_the_answer_streams_in_view_and_no_key_shortcut_is_offered(browser, media):
    engine = ScriptedEngine(pieces=["A ball ", "on a table."], delay=0.05)
    with InProcessServer(engine) as app:
        page = Page(browser, PHONE, **TOUCH)
        try:
            page.page.goto(app.url + "/")
            expect(page.page.locator("#model-name")).to_have_text("cosmos-reason1-scripted")
            question = page.page.locator("#question")
            expect(question).to_have_attribute("placeholder", "Ask about the image or video…")
            page.page.select_option("#task", "caption")  # a task's own question: no shortcut either
            expect(question).not_to_have_attribute("placeholder", "Ask about the image or video…")
            assert "Enter" not in question.get_attribute("placeholder")
            page.page.select_option("#task", "")

            page.page.set_input_files("#media-input", str(media["image"]))
            turn = ask(page.page, "What is in the picture?", 1)
            expect(turn.locator(".answer")).to_have_text("A ball on a table.")
            # Ask is at the bottom of a long page: the answer must be on screen, not below the fold.
            expect(turn.locator(".bubble.assistant")).to_be_in_viewport(ratio=1)
        finally:
            page.context.close()
        assert page.js_errors == []


def test_on_a_laptop_the_placeholder_names_the_shortcut(browser_page: Page):
    with InProcessServer(ScriptedEngine()) as app:
        browser_page.page.goto(app.url + "/")
        expect(browser_page.page.locator("#model-name")).to_have_text("cosmos-reason1-scripted")
        placeholder = browser_page.page.locator("#question").get_attribute("placeholder")
        assert placeholder.endswith("(Ctrl+Enter sends)") or placeholder.endswith("(⌘+Enter sends)")


def test_at_1440x900_the_settings_panel_shows_every_field(browser, media):
    # The demo banner, a video (so the fps field too) and the sampling settings open: all of it fits.
    with InProcessServer(ScriptedEngine()) as app:
        page = Page(browser, WIDE_LAPTOP)
        try:
            page.page.goto(app.url + "/")
            expect(page.page.locator("#demo-banner")).to_be_visible()
            page.page.set_input_files("#media-input", str(media["ball"]))
            expect(page.page.locator("#fps")).to_be_visible()
            assert page.page.locator("#sampling").get_attribute("open") is not None
            setup = page.page.evaluate("""() => {
                const panel = document.querySelector('.setup');
                return {scroll: panel.scrollHeight, client: panel.clientHeight};
            }""")
            assert setup["scroll"] <= setup["client"], f"the settings panel is cut off: {setup}"
            for field in ("#media-input + label", "#task", "#reasoning", "#temperature", "#seed", "#fps", "#ask"):
                expect(page.page.locator(field)).to_be_in_viewport(ratio=1)
        finally:
            page.context.close()
        assert page.js_errors == []


def test_the_startup_log_prints_the_playgrounds_url(server):
    assert f"playground: {server.url}/" in server.output()


def test_json_output_sends_the_schema_and_a_schema_that_is_not_json_sends_nothing(browser_page: Page):
    engine = ScriptedEngine(pieces=['{"color":', ' "red"}'])
    with InProcessServer(engine) as app:
        page = browser_page.page
        page.goto(app.url + "/")
        expect(page.locator("#schema-field")).to_be_hidden()
        page.check("#json-output")
        expect(page.locator("#schema-field")).to_be_visible()
        page.fill("#json-schema", '{"type": "object", "properties": {"color": {"type": "string"}}')  # unclosed
        page.fill("#question", "What color?")
        page.click("#ask")
        expect(page.locator("#schema-error")).to_contain_text("The schema is not JSON")
        assert browser_page.chat_requests == []  # nothing was sent
        schema = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
        page.fill("#json-schema", json.dumps(schema))
        turn = ask(page, "What color?", 1)
        expect(turn.locator(".answer")).to_have_text('{"color": "red"}')
        expect(page.locator("#schema-error")).to_be_hidden()
        sent = browser_page.chat_requests[-1]["body"]["response_format"]
        assert sent == {"type": "json_schema", "json_schema": {"name": "playground", "schema": schema}}
        page.fill("#json-schema", "")
        ask(page, "Any JSON?", 2)
        assert browser_page.chat_requests[-1]["body"]["response_format"] == {"type": "json_object"}
        assert browser_page.js_errors == []
