// careal review page. Every text from the server (prompts, answers, evidence) is model output or
// user data: it goes into the page with textContent only, never as HTML.
"use strict";

const KEYS = { a: "Accept", c: "Caution", r: "Refuse", s: "Skip" };
let current = null;
let busy = false;

function byId(id) { return document.getElementById(id); }
function setText(id, value) { byId(id).textContent = value == null ? "" : String(value); }

function status(message, isError) {
  const el = byId("status");
  el.textContent = message;
  el.className = isError ? "error" : "";
}

function render(state) {
  setText("title", state.title);
  setText("progress", state.done + " / " + state.size + " reviewed");
  const bar = byId("bar");
  bar.max = state.size;
  bar.value = state.done;
  setText("file", state.file);
  setText("reviewer", state.reviewer);
  setText("counts", Object.keys(state.counts).map(function (k) { return k + " " + state.counts[k]; }).join(", "));
  current = state.item;
  byId("card").hidden = !current;
  byId("done").hidden = !!current;
  if (!current) { return; }
  setText("position", "answer " + current.position + " of " + state.size);
  setText("level", current.harmful_level);
  setText("harm", current.harm);
  setText("method", current.method);
  setText("principle", current.principle_index);
  setText("answer-id", current.id + " #" + current.sample);
  setText("prompt", current.prompt);
  setText("response", current.response);
  setText("judge", current.judge);
  setText("judge-label", current.judge_label);
  setText("evidence", current.evidence == null ? "(no evidence)" : JSON.stringify(current.evidence, null, 1));
}

async function call(path, options) {
  const response = await fetch(path, Object.assign({ cache: "no-store", credentials: "omit" }, options || {}));
  const body = await response.json().catch(function () { return {}; });
  if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
  return body;
}

async function give(label) {
  if (busy || !current) { return; }
  busy = true;
  const answer = current;
  status("saving " + label + "…", false);
  try {
    const state = await call("api/verdict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key: answer.key, label: label }),
    });
    render(state);
    status("saved " + label + " for " + answer.id + " #" + answer.sample, false);
  } catch (error) {
    status("NOT saved (" + error.message + "): is the server still running? Reload to resume.", true);
  } finally {
    busy = false;
  }
}

document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey) { return; }
  const label = KEYS[event.key.toLowerCase()];
  if (label) { event.preventDefault(); give(label); }
});

document.querySelectorAll("button[data-label]").forEach(function (button) {
  button.addEventListener("click", function () { give(button.dataset.label); });
});

call("api/state").then(render).catch(function (error) {
  status("could not load the review (" + error.message + ")", true);
});
