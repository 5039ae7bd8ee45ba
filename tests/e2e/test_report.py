"""`cosmos-reason report`'s page in real headless Chromium (Debian's, driven by Playwright).

The page is opened from disk as a user would; every request that is not file: or data: is
failed and recorded, so a page that reached for the network fails the test. The screenshot
test replaces docs/report.png and docs/report-phone.png only with UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cosmos_reason.cli import main
from tests.report.sample import annotate_rows, critic_rows, eval_pair, eval_rows, make_media, many_rows, write_jsonl

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("COSMOS_REASON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Viewer:
    """A page on a report file, with its JS errors and any request that left the machine."""

    def __init__(self, browser, viewport=DESKTOP) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", self._request)

    def _request(self, request) -> None:
        if not request.url.startswith(("file:", "data:")):
            self.outside.append(request.url)

    def _route(self, route) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, html: Path):
        self.page.goto(html.as_uri())
        return self.page

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], f"JavaScript errors on the page: {self.errors}"
        assert self.outside == [], f"the page made network requests: {self.outside}"


@pytest.fixture
def viewer(browser):
    viewer = Viewer(browser)
    yield viewer
    viewer.close()


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def report(tmp_path: Path, *files: list, inline: bool = False) -> Path:
    paths = [str(write_jsonl(tmp_path / f"results{i}.jsonl", rows)) for i, rows in enumerate(files)]
    out = tmp_path / "report.html"
    assert main(["report", *paths, "--out", str(out), "--quiet", *(["--inline"] if inline else [])]) == 0
    return out


def shown_names(page) -> list[str]:
    return page.locator("#items .item .name").all_text_contents()


def test_items_media_folded_reasoning_ranking_and_screenshots(browser, tmp_path):
    make_media(tmp_path)
    html = report(tmp_path, annotate_rows(), critic_rows())
    for viewport, name in ((DESKTOP, "report.png"), (PHONE, "report-phone.png")):
        viewer = Viewer(browser, viewport)
        page = viewer.open(html)
        expect(page.locator("#count")).to_have_text("Showing 1–9 of 9 items")
        expect(page.locator("#summary")).to_contain_text("9 items")
        first = page.locator("#items .item").first
        expect(first.locator(".answer")).to_have_text("A red ball rolls across a green lawn under a blue sky.")
        # The reasoning is folded until asked for.
        reasoning = first.locator("details.reasoning-box")
        expect(reasoning.locator(".reasoning")).to_be_hidden()
        reasoning.locator("summary").click()
        expect(reasoning.locator(".reasoning")).to_be_visible()
        # Previews loaded from the folder beside the page; a video shows a few frames.
        video = page.locator("#items .item").nth(1)
        expect(video.locator(".frames img")).to_have_count(4)
        for img in page.locator("#items .item .frames img").all():
            img.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        # Moved or broken media: a placeholder saying so.
        expect(page.locator(".item", has_text="clips/moved.mp4").locator(".placeholder")).to_contain_text("missing")
        expect(page.locator(".item", has_text="clips/broken.jpg").first.locator(".error")).to_contain_text(
            "not a recognized image or video"
        )
        # The critic run's ranking, drawn as a chart.
        expect(page.locator(".ranking svg.chart rect")).to_have_count(2)
        expect(page.locator(".ranking")).to_contain_text("best: clips/arm.mp4")
        shot = DOCS / name if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / name
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        viewer.close()


def test_filters_errors_parse_errors_task_and_search(viewer, tmp_path):
    make_media(tmp_path)
    page = viewer.open(report(tmp_path, annotate_rows(), inline=True))
    page.select_option("#status", "error")
    expect(page.locator("#count")).to_have_text("Showing 1–1 of 1 items (of 6)")
    assert shown_names(page) == ["clips/broken.jpg"]
    page.select_option("#status", "parse_error")
    assert shown_names(page) == ["clips/drive.mp4"]
    expect(page.locator(".item .parse-error")).to_have_text("parse error: no score 1-5 in the answer")
    page.select_option("#status", "")
    page.select_option("#task", "plausibility")
    assert shown_names(page) == ["clips/arm.mp4", "clips/drive.mp4", "clips/dusk.png"]
    page.select_option("#sort", "score-asc")
    assert shown_names(page) == ["clips/dusk.png", "clips/arm.mp4", "clips/drive.mp4"]  # no score: last
    page.select_option("#task", "")
    page.fill("#search", "forklift")
    expect(page.locator("#count")).to_have_text("Showing 1–1 of 1 items (of 6)")
    assert shown_names(page) == ["clips/moved.mp4"]


def test_three_thousand_items_page_sort_and_filter(viewer, tmp_path):
    rows = many_rows(3000)
    page = viewer.open(report(tmp_path, rows))
    expect(page.locator("#count")).to_have_text("Showing 1–50 of 3000 items", timeout=10_000)
    expect(page.locator("#items .item")).to_have_count(50)  # one page in the DOM, not 3000
    assert shown_names(page)[:2] == ["gen/clip00000.mp4", "gen/clip00001.mp4"]
    page.locator("#pager-top .next").click()
    expect(page.locator("#count")).to_have_text("Showing 51–100 of 3000 items")
    assert shown_names(page)[0] == "gen/clip00050.mp4"
    expect(page.locator("#pager-top .page")).to_have_text("Page 2 of 60")
    # Sorting by score: every shown score in order, highest first, from the first page.
    page.select_option("#sort", "score-desc")
    expect(page.locator("#pager-top .page")).to_have_text("Page 1 of 60")
    scores = [float(s.split()[1]) for s in page.locator("#items .badge.score").all_text_contents()]
    assert len(scores) == 50 and scores == sorted(scores, reverse=True) and scores[0] == 5
    page.select_option("#sort", "score-asc")
    scores = [float(s.split()[1]) for s in page.locator("#items .badge.score").all_text_contents()]
    assert scores == [1.0] * 50
    # Filtering by score: only the items in range, none without a score.
    fives = sum(1 for r in rows if (r["parsed"] or {}).get("score") == 5)
    page.fill("#min-score", "4.5")
    expect(page.locator("#count")).to_have_text(f"Showing 1–50 of {fives} items (of 3000)")
    assert set(page.locator("#items .badge.score").all_text_contents()) == {"score 5"}
    page.fill("#min-score", "")
    # The view is in the URL: a reload comes back to the same filter and page.
    page.fill("#min-score", "4.5")
    page.locator("#pager-top .next").click()
    expect(page.locator("#count")).to_have_text(f"Showing 51–100 of {fives} items (of 3000)")
    page.reload()
    expect(page.locator("#count")).to_have_text(f"Showing 51–100 of {fives} items (of 3000)")
    expect(page.locator("#min-score")).to_have_value("4.5")
    expect(page.locator("#sort")).to_have_value("score-asc")
    page.fill("#min-score", "")
    # The error filter shows the error rows and only them.
    page.select_option("#status", "error")
    errors = sum(1 for r in rows if r["error"])
    expect(page.locator("#count")).to_have_text(f"Showing 1–50 of {errors} items (of 3000)")
    assert page.locator("#items .item.has-error").count() == 50 == page.locator("#items .item").count()
    # Items without media files: placeholders, no broken images.
    assert page.locator("#items .frames img").count() == 0


def test_eval_accuracy_table_and_correct_filter(viewer, tmp_path):
    make_media(tmp_path)
    page = viewer.open(report(tmp_path, eval_rows()))
    table = page.locator("#accuracy table")
    expect(table.locator("tr.overall")).to_have_text("overall5360.0%")
    page.select_option("#status", "incorrect")
    expect(page.locator("#count")).to_have_text("Showing 1–2 of 2 items (of 5)")
    expect(page.locator("#items .badge.incorrect")).to_have_text(["incorrect", "no answer"])
    page.select_option("#status", "correct")
    expect(page.locator("#count")).to_have_text("Showing 1–3 of 3 items (of 5)")


def test_compare_page_links_each_disagreement_to_that_item_in_each_report(viewer, tmp_path):
    make_media(tmp_path)
    a_rows, b_rows = eval_pair()
    for rows in (a_rows, b_rows):  # every question about the same clip: previews drawn once, shared
        for r in rows:
            if isinstance(r, dict):
                r["item"] = "clips/arm.mp4"
    a = write_jsonl(tmp_path / "a.jsonl", a_rows)
    b = write_jsonl(tmp_path / "b.jsonl", b_rows)
    html = tmp_path / "compare.html"
    assert main(["eval", "--compare", str(a), str(b), "--html", str(html), "--quiet"]) == 0
    page = viewer.open(html)
    expect(page.locator("#accuracy tr.overall")).to_have_text("overall3 / 560.00%4 / 666.67%+6.67 pts")
    # q3: A gave no answer, B answered B (right): B's link opens B's report on that one item.
    row = page.locator("tr.disagreement", has_text="robovqa/q3#0")
    row.locator("a.to-b").click()
    page.wait_for_url("**/compare.B.html#line=3")
    expect(page.locator("#items .item")).to_have_count(1)
    item = page.locator("#items .item")
    expect(item.locator(".badge.qid")).to_have_text("robovqa/q3#0")
    expect(item.locator(".badge.correct")).to_have_text("correct")
    expect(item.locator(".prompt").first).to_have_text("Question 3: what happens next?")
    expect(item.locator(".options li.right")).to_have_text("B. It drops the cup")
    expect(item.locator(".frames img")).to_have_count(4)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=item.locator("img").first.element_handle()
    )
    reasoning = item.locator("details.reasoning-box")
    expect(reasoning.locator(".reasoning")).to_be_hidden()  # folded, as in the report
    reasoning.locator("summary").click()
    expect(reasoning.locator(".reasoning")).to_have_text("reasoning about question 3")
    expect(page.locator("#count")).to_contain_text("Showing the item on line 3 (of 6 items)")
    # Back to the comparison, then A's link for the same question: A's line, A's (missing) answer.
    page.go_back()
    page.locator("tr.disagreement", has_text="robovqa/q3#0").locator("a.to-a").click()
    page.wait_for_url("**/compare.A.html#line=4")
    expect(page.locator("#items .item")).to_have_count(1)
    expect(page.locator("#items .item .badge.incorrect")).to_have_text("no answer")
    expect(page.locator("#items .item .badge.qid")).to_have_text("robovqa/q3#0")
    # Another line typed into the address bar: the page follows the fragment.
    page.evaluate("location.hash = 'line=1'")
    expect(page.locator("#items .item .badge.qid")).to_have_text("av/q0#0")
    # The report leads back to the whole list, and to the comparison.
    page.locator("#count .show-all").click()
    expect(page.locator("#count")).to_have_text("Showing 1–5 of 5 items")
    page.locator("header .back a").click()
    page.wait_for_url("**/compare.html")
