"use strict";
// The report's item list: the rows are embedded as JSON; only one page of them is in the DOM
// at a time, so thousands of items stay fast. User text is only ever set as textContent.
(function () {
  const PAGE = 50;
  const rows = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { search: "", task: "", status: "", sort: "order", page: 0, min: null, max: null, line: null };
  let shown = rows;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  for (const row of rows) {
    row._hay = [row.name, row.prompt, row.content, row.reasoning, row.error, row.parse_error,
      row.question, row.question_id, row.answer, row.parsed && JSON.stringify(row.parsed)]
      .filter((x) => x !== null && x !== undefined).join("\n").toLowerCase();
  }
  const tasks = [...new Set(rows.map((r) => r.task).filter((t) => t))].sort();
  for (const task of tasks) $("task").append(el("option", { value: task, text: task }));
  const hasEval = rows.some((r) => r.is_correct !== undefined);
  for (const option of document.querySelectorAll("option[data-eval]")) if (!hasEval) option.remove();

  const matchers = {
    "": () => true,
    ok: (r) => !r.error,
    error: (r) => !!r.error,
    parse_error: (r) => !!r.parse_error,
    correct: (r) => r.is_correct === true,
    incorrect: (r) => r.is_correct !== undefined && r.is_correct !== true,
  };
  const byScore = (sign) => (a, b) => {
    if (a.score === null && b.score === null) return a.n - b.n;
    if (a.score === null) return 1;
    if (b.score === null) return -1;
    return sign * (a.score - b.score) || a.n - b.n;
  };
  const sorters = {
    order: (a, b) => a.n - b.n,
    "score-desc": byScore(-1),
    "score-asc": byScore(1),
    name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.n - b.n),
    "seconds-desc": (a, b) => (b.seconds ?? -1) - (a.seconds ?? -1) || a.n - b.n,
  };

  function apply() {
    const words = state.search.toLowerCase().split(/\s+/).filter((w) => w);
    const match = matchers[state.status];
    const inRange = (r) => (state.min === null || (r.score !== null && r.score >= state.min)) &&
      (state.max === null || (r.score !== null && r.score <= state.max));
    shown = state.line !== null ? rows.filter((r) => r.line === state.line) : rows.filter((r) => (!state.task || r.task === state.task) && match(r) && inRange(r) &&
      words.every((w) => r._hay.includes(w)));
    shown.sort(sorters[state.sort]);
    render();
  }

  function media(row) {
    const box = el("div", { class: "media" });
    if (row.thumbs && row.thumbs.length) {
      const strip = el("div", { class: "frames " + (row.kind || "") });
      for (const src of row.thumbs) strip.append(el("img", { src, loading: "lazy", alt: row.kind === "video" ? "frame" : "thumbnail" }));
      box.append(row.href ? el("a", { href: row.href, target: "_blank", rel: "noopener" }, strip) : strip);
    } else {
      const why = row.media_problem || (row.url ? "remote: " + row.url : "no media");
      box.append(el("div", { class: "placeholder", title: row.path || row.name, text: why }));
    }
    return box;
  }

  function parsedTable(parsed) {
    const table = el("table", { class: "parsed" });
    for (const [key, value] of Object.entries(parsed)) {
      if (key === "parse_error") continue;
      const text = typeof value === "string" ? value : JSON.stringify(value);
      table.append(el("tr", {}, el("td", { text: key }), el("td", { text })));
    }
    return table.childElementCount ? table : null;
  }

  function card(row) {
    const badges = el("div", { class: "badges" });
    const badge = (text, cls) => badges.append(el("span", { class: "badge " + (cls || ""), text }));
    if (row.rank !== undefined && row.rank !== null) badge("#" + row.rank, "score");
    if (row.score !== null) badge("score " + (Math.round(row.score * 1000) / 1000), "score");
    if (row.is_correct === true) badge("correct", "correct");
    else if (row.is_correct !== undefined) badge(row.answer ? "incorrect" : "no answer", "incorrect");
    if (row.error) badge("error", "err");
    if (row.parse_error) badge("parse error", "warn");
    if (row.question_id) badge(row.question_id, "qid");
    if (row.task) badge(row.task);
    if (row.kind) badge(row.kind);
    if (row.finish_reason === "length") badge("cut short (max_tokens)", "warn");
    if (row.seconds !== null && row.seconds !== undefined) badge(row.seconds.toFixed(1) + " s");
    const name = row.href ? el("a", { href: row.href, target: "_blank", rel: "noopener", text: row.name }) : row.name;
    const body = el("div", { class: "body" },
      el("div", { class: "name" }, name),
      badges,
      row.prompt ? el("div", { class: "prompt", text: row.prompt }) : null);
    if (row.options) {
      const list = el("ul", { class: "options" });
      for (const [letter, text] of Object.entries(row.options)) {
        const cls = letter === row.correct_answer ? "right" : letter === row.answer ? "wrong" : "";
        list.append(el("li", { class: cls, text: letter + ". " + text }));
      }
      body.append(list, el("div", { class: "prompt", text: "answer: " + (row.answer ?? "none") + " · correct: " + (row.correct_answer ?? "?") }));
    }
    if (row.error) body.append(el("div", { class: "error", text: row.error }));
    if (row.content !== null && row.content !== undefined) body.append(el("div", { class: "answer", text: row.content }));
    if (row.reasoning) body.append(el("details", { class: "reasoning-box" }, el("summary", { text: "Reasoning" }), el("div", { class: "reasoning", text: row.reasoning })));
    if (row.parse_error) body.append(el("div", { class: "parse-error", text: "parse error: " + row.parse_error }));
    if (row.parsed) body.append(parsedTable(row.parsed));
    if (row.samples && row.samples.length) {
      const box = el("details", {}, el("summary", { text: row.samples.length + " answers" }));
      row.samples.forEach((s, i) => {
        box.append(el("div", { class: "answer", text: "#" + (i + 1) + (s.note ? " (" + s.note + ")" : "") + ": " + (s.content ?? "") }));
        if (s.reasoning) box.append(el("details", {}, el("summary", { text: "Reasoning" }), el("div", { class: "reasoning", text: s.reasoning })));
      });
      body.append(box);
    }
    return el("li", { class: "item" + (row.error ? " has-error" : ""), "data-n": String(row.n) }, media(row), body);
  }

  function pager(box, pages) {
    box.replaceChildren();
    if (pages <= 1) return;
    const go = (page) => { state.page = page; render(); window.scrollTo(0, $("items-section").offsetTop); };
    box.append(
      el("button", { type: "button", class: "prev", disabled: state.page === 0, text: "‹ Prev" }),
      el("span", { class: "page", text: "Page " + (state.page + 1) + " of " + pages }),
      el("button", { type: "button", class: "next", disabled: state.page >= pages - 1, text: "Next ›" }));
    box.querySelector(".prev").onclick = () => go(state.page - 1);
    box.querySelector(".next").onclick = () => go(state.page + 1);
  }

  function render() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE;
    const slice = shown.slice(start, start + PAGE);
    $("items").replaceChildren(...slice.map(card));
    const of = shown.length === rows.length ? "" : " (of " + rows.length + ")";
    if (state.line !== null) {
      // One line picked by the link (#line=N): say so, and offer the way back to the whole list.
      const all = el("button", { type: "button", class: "show-all", text: "Show all items" });
      all.onclick = () => { state.line = null; state.page = 0; apply(); };
      const what = shown.length ? "Showing the item" + (shown.length > 1 ? "s" : "") + " on line " : "No item on line ";
      $("count").replaceChildren(what + state.line + " (of " + rows.length + " items) ", all);
    } else {
      $("count").textContent = shown.length
        ? "Showing " + (start + 1) + "–" + (start + slice.length) + " of " + shown.length + " items" + of
        : "No items match" + of;
    }
    pager($("pager-top"), pages);
    pager($("pager-bottom"), pages);
    save();
  }

  // The view (filters, sort, page) lives in the URL's #fragment: a reload or a shared link keeps it.
  // line=N shows only the item read from line N of the results file (what `eval --compare` links to).
  const KEYS = { q: "search", task: "task", status: "status", sort: "sort", min: "min", max: "max", page: "page", line: "line" };
  const DEFAULTS = { ...state };
  function save() {
    const params = new URLSearchParams();
    for (const [short, key] of Object.entries(KEYS)) {
      const value = key === "page" ? (state.page ? state.page + 1 : null) : state[key];
      if (value !== null && value !== "" && !(key === "sort" && value === "order")) params.set(short, value);
    }
    try { history.replaceState(null, "", "#" + params.toString()); } catch (e) { /* some viewers forbid it */ }
  }
  function restore() {
    const params = new URLSearchParams(location.hash.slice(1));
    Object.assign(state, DEFAULTS);
    const pick = (id, value) => {
      $(id).value = [...$(id).options].some((o) => o.value === value) ? value : DEFAULTS[id];
      state[id] = $(id).value;
    };
    for (const id of ["task", "status", "sort"]) pick(id, params.get(id));
    $("search").value = state.search = params.get("q") || "";
    for (const [short, id] of [["min", "min-score"], ["max", "max-score"]]) {
      const value = Number(params.get(short));
      const ok = params.has(short) && Number.isFinite(value) && $(id);
      if (ok) state[short] = value;
      if ($(id)) $(id).value = ok ? String(value) : "";
    }
    const line = parseInt(params.get("line"), 10);
    state.line = line > 0 ? line : null;
    state.page = Math.max(0, (parseInt(params.get("page"), 10) || 1) - 1);
  }

  let timer = null;
  $("search").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.search = e.target.value; state.page = 0; state.line = null; apply(); }, 150);
  });
  for (const [id, key] of [["min-score", "min"], ["max-score", "max"]]) {
    $(id).addEventListener("input", (e) => {
      const value = e.target.value.trim() === "" ? null : Number(e.target.value);
      state[key] = Number.isFinite(value) ? value : null;
      state.page = 0;
      state.line = null;
      apply();
    });
  }
  if (!rows.some((r) => r.score !== null)) for (const input of document.querySelectorAll(".score-input")) input.remove();
  for (const id of ["task", "status", "sort"]) {
    $(id).addEventListener("change", (e) => { state[id] = e.target.value; state.page = 0; state.line = null; apply(); });
  }
  // A link to another view of this same page (a typed or pasted #fragment) changes only the hash.
  window.addEventListener("hashchange", () => { restore(); apply(); });
  restore();
  apply();
})();
