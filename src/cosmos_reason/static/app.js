// Cosmos-Reason playground: plain JavaScript, no framework, no build step.
//
// The page keeps the conversation (OpenAI `messages`) client-side: the chosen image or
// video goes into the first user turn only, follow-up questions add text turns.
// Answers stream from POST /v1/chat/completions as server-sent events.
"use strict";

const KEY_STORAGE = "cosmos-reason.api-key";
const THINK_OPEN = "<think>";
const THINK_CLOSE = "</think>";
const TAGS = ["<think>", "</think>", "<answer>", "</answer>"];
const IMAGE_EXTENSIONS = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];
const VIDEO_EXTENSIONS = ["mp4", "webm", "mov", "mkv", "avi", "m4v", "mpeg", "mpg"];

const state = {
  config: {
    auth_required: false, max_upload_bytes: 48 * 1024 * 1024, model: "", reasoning: false, sampling_defaults: null,
    reasoning_sampling_defaults: null,
  },
  modelId: null,
  tasks: [],
  media: null, // {kind, file, url, dataUri: Promise<string>}
  messages: [], // the conversation so far, as sent to the server
  conversation: 0, // bumped by "New conversation": answers still arriving for an old one are dropped
  controller: null, // AbortController of the answer streaming now
};

const $ = (id) => document.getElementById(id);

document.addEventListener("DOMContentLoaded", init);

async function init() {
  bindEvents();
  if (window.matchMedia("(max-width: 720px)").matches) $("sampling").open = false;
  try {
    Object.assign(state.config, await fetchJSON("/ui/config.json"));
  } catch (err) {
    showPageError(`Could not load the server's configuration: ${err.message}`);
  }
  $("model-name").textContent = state.config.model || "unknown";
  $("change-key").hidden = !state.config.auth_required;
  $("reasoning").checked = Boolean(state.config.reasoning);
  resetSamplingPlaceholders();
  $("question").placeholder = "Ask about the image or video…" + sendKeyHint();
  if (state.config.auth_required && !apiKey()) {
    askForKey();
    return;
  }
  await loadServerInfo();
}

function bindEvents() {
  $("media-input").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  bindDropZone($("drop-zone"));
  $("clear-media").addEventListener("click", () => { clearMedia(); startNewConversation(); });
  $("task").addEventListener("change", applyTaskPreset);
  // Some families (Cosmos-Reason2) sample differently with reasoning: the placeholders follow the box.
  $("reasoning").addEventListener("change", () => resetSamplingPlaceholders(selectedTask()?.defaults || {}));
  $("json-output").addEventListener("change", () => {
    $("schema-field").hidden = !$("json-output").checked;
    $("schema-error").hidden = true;
  });
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("ask-form").requestSubmit();
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("new-chat").addEventListener("click", startNewConversation);
  $("change-key").addEventListener("click", () => askForKey());
  $("key-form").addEventListener("submit", saveKey);
  $("key-dialog").addEventListener("close", () => {
    if (state.config.auth_required && !apiKey()) {
      showPageError("This server needs an API key: use the “API key” button.");
    }
  });
}

// ---- server info: models, tasks, API key -------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function apiHeaders(extra = {}) {
  const headers = { ...extra };
  const key = apiKey();
  if (key) headers.authorization = `Bearer ${key}`;
  return headers;
}

async function fetchJSON(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function apiGet(path) {
  const response = await fetch(path, { headers: apiHeaders({ accept: "application/json" }) });
  return { ok: response.ok, status: response.status, body: await readJSON(response) };
}

async function readJSON(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function errorMessage(body, status) {
  const error = body && body.error;
  if (error && typeof error === "object" && error.message) return error.message;
  if (typeof error === "string" && error) return error;
  if (body && typeof body.detail === "string") return body.detail;
  return `The server answered HTTP ${status} without a message.`;
}

async function loadServerInfo() {
  hidePageError();
  let models;
  try {
    models = await apiGet("/v1/models");
  } catch (err) {
    showPageError(`Could not reach the server: ${err.message}`);
    return;
  }
  if (models.status === 401) {
    askForKey(errorMessage(models.body, models.status));
    return;
  }
  if (!models.ok) {
    showPageError(errorMessage(models.body, models.status));
    return;
  }
  showModel((models.body.data || [])[0]);
  await loadTasks();
}

function showModel(card) {
  if (!card) return;
  state.modelId = card.id;
  $("model-name").textContent = card.id;
  $("demo-banner").hidden = !card.random_weights;
}

async function loadTasks() {
  let tasks = [];
  try {
    const result = await apiGet("/v1/tasks");
    if (result.ok && result.body && Array.isArray(result.body.data)) tasks = result.body.data;
  } catch {
    // No task list (older server): only the free prompt.
  }
  state.tasks = tasks;
  const select = $("task");
  select.replaceChildren(new Option("Free prompt", ""));
  for (const task of tasks) select.add(new Option(task.title || task.name, task.name));
  applyTaskPreset();
}

function askForKey(message = "") {
  const dialog = $("key-dialog");
  $("key-error").textContent = message;
  $("key-error").hidden = !message;
  $("api-key").value = apiKey();
  if (!dialog.open) dialog.showModal();
  $("api-key").focus();
}

async function saveKey(event) {
  event.preventDefault(); // never a form submission: the key must not end up in a URL
  const key = $("api-key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("key-dialog").close();
  await loadServerInfo();
}

// ---- task presets and sampling settings ---------------------------------------------

function selectedTask() {
  return state.tasks.find((task) => task.name === $("task").value) || null;
}

function applyTaskPreset() {
  const task = selectedTask();
  $("task-description").textContent = task ? task.description || "" : "Your own question, as typed.";
  $("reasoning").checked = task ? Boolean(task.reasoning) : Boolean(state.config.reasoning);
  const question = task && task.default_question ? task.default_question : "Ask about the image or video…";
  $("question").placeholder = question + sendKeyHint();
  resetSamplingPlaceholders(task ? task.defaults || {} : {});
}

// The keyboard shortcut is worth a mention only where there is likely a keyboard: a fine pointer
// (mouse, trackpad). On a phone or tablet the hint would name keys that are not there.
function sendKeyHint() {
  if (!window.matchMedia("(pointer: fine)").matches) return "";
  return /Mac|iPhone|iPad/.test(navigator.platform) ? " (⌘+Enter sends)" : " (Ctrl+Enter sends)";
}

function resetSamplingPlaceholders(taskDefaults = {}) {
  const reasoning = $("reasoning").checked && state.config.reasoning_sampling_defaults;
  const server = reasoning || state.config.sampling_defaults || {};
  const pick = (name, fallback) => String(taskDefaults[name] ?? server[name] ?? fallback);
  $("temperature").placeholder = pick("temperature", "0.6");
  $("top-p").placeholder = pick("top_p", "0.95");
  $("max-tokens").placeholder = pick("max_tokens", "4096");
  $("fps").placeholder = taskDefaults.fps ? String(taskDefaults.fps) : "auto";
}

function numberField(id) {
  const raw = $(id).value.trim();
  return raw === "" ? undefined : Number(raw);
}

function requestBody(messages) {
  const body = {
    model: state.modelId || state.config.model || undefined,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    reasoning: $("reasoning").checked,
    // The model's text as it comes, <think> tags and all: the server's own split holds the
    // reasoning back until </think>, the page splits it here so the reasoning streams live.
    raw_output: true,
  };
  if ($("task").value) body.task = $("task").value;
  const format = responseFormat();
  if (format) body.response_format = format;
  const fields = { temperature: "temperature", top_p: "top-p", max_tokens: "max-tokens", seed: "seed" };
  for (const [name, id] of Object.entries(fields)) {
    const value = numberField(id);
    if (value !== undefined) body[name] = value;
  }
  return body;
}

// The "JSON output" toggle: any JSON object, or the schema typed in its box. A schema that is
// not JSON throws (ask() shows why and sends nothing); the server names what it cannot honour.
function responseFormat() {
  if (!$("json-output").checked) return undefined;
  const text = $("json-schema").value.trim();
  if (!text) return { type: "json_object" };
  let schema;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    throw new SchemaError(`The schema is not JSON: ${err.message}`);
  }
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    throw new SchemaError("The schema must be a JSON object, e.g. {\"type\": \"object\"}.");
  }
  return { type: "json_schema", json_schema: { name: "playground", schema } };
}

class SchemaError extends Error {}

// ---- media: choose, check, preview ----------------------------------------------------

function bindDropZone(zone) {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    if (!isBusy()) chooseFile(e.dataTransfer.files[0]);
  });
  // A drop that misses the zone must not navigate away from the conversation.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

function mediaKind(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  const extension = file.name.split(".").pop().toLowerCase();
  if (IMAGE_EXTENSIONS.includes(extension)) return "image";
  if (VIDEO_EXTENSIONS.includes(extension)) return "video";
  return null;
}

function chooseFile(file) {
  $("media-input").value = ""; // choosing the same file again must fire `change` again
  if (!file) return;
  const kind = mediaKind(file);
  const limit = state.config.max_upload_bytes;
  if (!kind) {
    refuseFile(`${file.name} is neither an image nor a video.`);
  } else if (file.size > limit) {
    refuseFile(`${file.name} is too large (${formatBytes(file.size)}); `
               + `this server accepts files up to ${formatBytes(limit)}.`);
  } else {
    $("media-error").hidden = true;
    setMedia(file, kind);
  }
}

function refuseFile(message) {
  $("media-error").textContent = message;
  $("media-error").hidden = false;
}

function setMedia(file, kind) {
  clearMedia();
  if (state.messages.length) startNewConversation("New media: started a new conversation.");
  const url = URL.createObjectURL(file);
  state.media = { kind, file, url, dataUri: readDataUri(file) };
  const image = $("preview-image");
  const video = $("preview-video");
  image.hidden = kind !== "image";
  video.hidden = kind !== "video";
  for (const el of document.querySelectorAll(".video-only")) el.hidden = kind !== "video";
  $("preview").hidden = false;
  $("clear-media").hidden = false;
  $("drop-zone").classList.add("has-media");
  showMediaInfo(file);
  if (kind === "image") {
    image.onload = () => showMediaInfo(file, `${image.naturalWidth} × ${image.naturalHeight}`);
    image.onerror = () => showMediaInfo(file, "the browser cannot show this image");
    image.src = url;
  } else {
    video.onloadedmetadata = () => showMediaInfo(file, `${video.videoWidth} × ${video.videoHeight}`,
                                                  formatDuration(video.duration));
    video.onerror = () => showMediaInfo(file, "duration unknown (the browser cannot play this file)");
    video.src = url;
  }
}

function clearMedia() {
  if (state.media) URL.revokeObjectURL(state.media.url);
  state.media = null;
  for (const id of ["preview-image", "preview-video"]) {
    $(id).removeAttribute("src");
    $(id).hidden = true;
  }
  for (const el of document.querySelectorAll(".video-only")) el.hidden = true;
  $("preview").hidden = true;
  $("clear-media").hidden = true;
  $("drop-zone").classList.remove("has-media");
  $("media-info").textContent = "";
}

function showMediaInfo(file, ...details) {
  const items = [file.name, formatBytes(file.size), ...details].map((text) => {
    const span = document.createElement("span");
    span.textContent = text;
    return span;
  });
  $("media-info").replaceChildren(...items.flatMap((span, i) => (i ? [" · ", span] : [span])));
}

function readDataUri(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error || new Error("could not read the file"));
    reader.readAsDataURL(file);
  });
}

async function mediaPart() {
  const media = state.media;
  const url = await media.dataUri;
  if (media.kind === "image") return { type: "image_url", image_url: { url } };
  const part = { type: "video_url", video_url: { url } };
  const fps = numberField("fps");
  if (fps !== undefined) part.video_url.fps = fps;
  return part;
}

// ---- asking and streaming --------------------------------------------------------------

function isBusy() {
  return state.controller !== null;
}

async function ask(event) {
  event.preventDefault();
  if (isBusy()) return;
  const task = selectedTask();
  const text = $("question").value.trim() || (task && task.default_question) || "";
  if (!text) {
    setStatus("Type a question first.");
    return;
  }
  if (state.config.auth_required && !apiKey()) {
    askForKey();
    return;
  }
  try {
    responseFormat(); // checks the schema before anything is sent
    $("schema-error").hidden = true;
  } catch (err) {
    if (!(err instanceof SchemaError)) throw err;
    $("schema-error").textContent = err.message;
    $("schema-error").hidden = false;
    return;
  }
  let userMessage;
  $("ask").disabled = true; // reading a large file takes a moment: no second click meanwhile
  try {
    userMessage = await buildUserMessage(text);
  } catch (err) {
    refuseFile(`Could not read the file: ${err.message}`);
    return;
  } finally {
    $("ask").disabled = false;
  }
  const typed = $("question").value;
  $("question").value = "";
  const turn = addTurn(text);
  const conversation = state.conversation;
  const result = await streamAnswer(requestBody([...state.messages, userMessage]), turn);
  if (conversation !== state.conversation) return;
  if (result.ok) {
    state.messages.push(userMessage, { role: "assistant", content: result.answer });
  } else {
    turn.element.classList.add("failed");
    if (!$("question").value) $("question").value = typed; // easy to retry
  }
}

async function buildUserMessage(text) {
  // The media part lives in the first user turn only; follow-ups are text.
  if (state.messages.length || !state.media) return { role: "user", content: text };
  return { role: "user", content: [await mediaPart(), { type: "text", text }] };
}

async function streamAnswer(body, turn) {
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  const run = newRun(turn);
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: apiHeaders({ "content-type": "application/json", accept: "text/event-stream" }),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) {
      const payload = await readJSON(response);
      run.error = errorMessage(payload, response.status);
      if (response.status === 401) askForKey(run.error);
    } else {
      await readStream(response.body, run);
    }
  } catch (err) {
    if (controller.signal.aborted) run.stopped = true;
    else run.error = `Connection failed: ${err.message}`;
  } finally {
    state.controller = null;
    setBusy(false);
  }
  run.done = true;
  run.endedAt = performance.now();
  render(run);
  const answer = sampleText(run.samples[0] || newSample()).answer;
  return { ok: !run.error && (!run.stopped || answer !== ""), answer };
}

async function readStream(body, run) {
  for await (const data of serverSentData(body)) {
    if (data === "[DONE]") break;
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      run.error = `Unreadable event from the server: ${data.slice(0, 200)}`;
      break;
    }
    applyChunk(run, chunk);
    if (run.error) break;
    scheduleRender(run);
  }
}

async function* serverSentData(body) {
  // Yields the data of each server-sent event; blank events (keep-alives) are skipped.
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const events = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : events.pop();
      for (const event of events) {
        const data = eventData(event);
        if (data) yield data;
      }
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => {}); // the caller may stop early (an error event): let go of the body
  }
}

function eventData(event) {
  return event.split(/\r?\n/)
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""))
    .join("\n");
}

function newRun(turn) {
  return {
    turn, samples: [], usage: null, error: null, stopped: false, done: false,
    startedAt: performance.now(), firstTokenAt: null, endedAt: null, renderPending: false,
  };
}

function newSample() {
  return { content: "", reasoning: "", serverReasoning: false, finish: null, view: null };
}

function applyChunk(run, chunk) {
  if (chunk.error) {
    run.error = errorMessage(chunk, 500);
    return;
  }
  for (const choice of chunk.choices || []) {
    const index = choice.index || 0;
    while (run.samples.length <= index) run.samples.push(newSample());
    const sample = run.samples[index];
    const delta = choice.delta || {};
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === "string" && reasoning) {
      sample.reasoning += reasoning;
      sample.serverReasoning = true;
    }
    if (typeof delta.content === "string") sample.content += delta.content;
    if (choice.finish_reason) sample.finish = choice.finish_reason;
    if (run.firstTokenAt === null && (reasoning || delta.content)) run.firstTokenAt = performance.now();
  }
  if (chunk.usage) run.usage = chunk.usage;
}

// With raw_output the page gets the model's raw text and finds the <think> block itself;
// a server that splits anyway (or ignores raw_output) sends `reasoning_content`, used as is.
function sampleText(sample, done = true) {
  if (sample.serverReasoning) return { reasoning: sample.reasoning.trim(), answer: sample.content.trim() };
  return splitThink(sample.content, done);
}

function splitThink(text, done) {
  if (!done) text = withoutPartialTag(text);
  const open = text.indexOf(THINK_OPEN);
  const close = open < 0 ? -1 : text.indexOf(THINK_CLOSE, open);
  if (open < 0 || (close < 0 && done)) {
    return { reasoning: "", answer: withoutTags(text).trim() };
  }
  if (close < 0) {
    return { reasoning: text.slice(open + THINK_OPEN.length).trim(), answer: withoutTags(text.slice(0, open)).trim() };
  }
  const reasoning = text.slice(open + THINK_OPEN.length, close);
  const answer = text.slice(0, open) + "\n\n" + text.slice(close + THINK_CLOSE.length);
  return { reasoning: reasoning.trim(), answer: withoutTags(answer).trim() };
}

function withoutTags(text) {
  return TAGS.reduce((out, tag) => out.split(tag).join(""), text);
}

function withoutPartialTag(text) {
  // While streaming, "<thi" may be the start of a tag: hold it back until it is decided.
  const lt = text.lastIndexOf("<");
  if (lt < 0) return text;
  const tail = text.slice(lt);
  return TAGS.some((tag) => tag.length > tail.length && tag.startsWith(tail)) ? text.slice(0, lt) : text;
}

// ---- rendering ----------------------------------------------------------------------

function addTurn(question) {
  $("empty-hint").hidden = true;
  const element = $("turn-template").content.firstElementChild.cloneNode(true);
  element.querySelector(".question").textContent = question;
  element.setAttribute("aria-busy", "true");
  $("transcript").append(element);
  // Laptop: the transcript scrolls by itself; keep its end in view. Phone: the page scrolls and
  // the composer sits below the transcript, so bring the new turn to the top: the answer then
  // streams into the visible part of the screen, not below the fold.
  element.scrollIntoView({ block: pageScrolls() ? "start" : "end" });
  return { element, samples: element.querySelector(".samples") };
}

function scheduleRender(run) {
  if (run.renderPending) return;
  run.renderPending = true;
  requestAnimationFrame(() => {
    run.renderPending = false;
    render(run);
  });
}

function render(run) {
  const stick = nearBottom($("transcript"));
  run.samples.forEach((sample, index) => renderSample(run, sample, index));
  const element = run.turn.element;
  const errorBox = element.querySelector(".turn-error");
  errorBox.textContent = run.error ? `Error: ${run.error}` : "";
  errorBox.hidden = !run.error;
  element.querySelector(".stats").textContent = statsText(run);
  element.classList.toggle("streaming", !run.done);
  if (run.done) element.removeAttribute("aria-busy");
  if (stick) $("transcript").scrollTop = $("transcript").scrollHeight;
  if (pageScrolls()) followOnPage(element);
}

function pageScrolls() {
  return getComputedStyle($("transcript")).overflowY === "visible";
}

function followOnPage(element) {
  // While the turn is on screen, scroll along as its answer grows, but never past its top
  // (the question stays in view); a reader who scrolled away is left alone.
  const box = element.getBoundingClientRect();
  if (box.top < 0 || box.top >= window.innerHeight || box.bottom <= window.innerHeight) return;
  window.scrollBy(0, Math.min(box.bottom - window.innerHeight, box.top));
}

function renderSample(run, sample, index) {
  if (!sample.view) {
    sample.view = $("sample-template").content.firstElementChild.cloneNode(true);
    run.turn.samples.append(sample.view);
  }
  const view = sample.view;
  const { reasoning, answer } = sampleText(sample, run.done);
  const label = view.querySelector(".sample-label");
  label.hidden = run.samples.length < 2;
  label.textContent = `Sample ${index + 1}`;
  const panel = view.querySelector(".reasoning");
  panel.hidden = !reasoning;
  view.querySelector(".reasoning-text").textContent = reasoning;
  view.querySelector(".answer").textContent = answer;
  view.querySelector(".answer").classList.toggle("pending", !answer && !run.done);
  const finish = view.querySelector(".finish");
  finish.hidden = sample.finish !== "length";
  finish.textContent = "Stopped at max tokens: raise “Max tokens” for a complete answer.";
}

function statsText(run) {
  const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const parts = [];
  if (run.usage) {
    parts.push(`${run.usage.prompt_tokens} prompt tokens`, `${run.usage.completion_tokens} completion tokens`,
               `${run.usage.total_tokens} total tokens`);
  }
  if (run.firstTokenAt !== null) parts.push(`first token ${seconds(run.firstTokenAt - run.startedAt)}`);
  if (!run.done) return parts.length ? `Streaming… ${parts.join(" · ")}` : "Waiting for the first token…";
  parts.push(`total ${seconds(run.endedAt - run.startedAt)}`);
  if (run.usage && run.firstTokenAt !== null && run.endedAt > run.firstTokenAt) {
    const rate = run.usage.completion_tokens / ((run.endedAt - run.firstTokenAt) / 1000);
    parts.push(`${rate.toFixed(1)} tokens/s`);
  }
  if (run.stopped) parts.unshift("Stopped");
  return parts.join(" · ");
}

function nearBottom(element) {
  return element.scrollHeight - element.scrollTop - element.clientHeight < 80;
}

function startNewConversation(message = "") {
  if (state.controller) state.controller.abort();
  state.conversation += 1;
  state.messages = [];
  for (const turn of $("transcript").querySelectorAll(".turn")) turn.remove();
  $("empty-hint").hidden = false;
  setStatus(typeof message === "string" ? message : "");
}

function setBusy(busy) {
  $("ask").disabled = busy;
  $("stop").hidden = !busy;
  $("media-input").disabled = busy;
  $("clear-media").disabled = busy;
  setStatus(busy ? "Answering…" : "");
}

function setStatus(message) {
  $("status").textContent = message;
}

function showPageError(message) {
  $("page-error").textContent = message;
  $("page-error").hidden = false;
}

function hidePageError() {
  $("page-error").hidden = true;
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "duration unknown";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds % 60)} s`;
}
