// sc-view --serve: the workers' rows as the view's model makes them, over
// Server-Sent Events. Everything a worker wrote is set as text
// (textContent), never as markup: agent output is hostile input.
"use strict";

const rows = new Map();
const body = () => document.querySelector("#workers tbody");

function cell(tr, name) {
  let td = tr.querySelector("td." + name);
  if (!td) {
    td = document.createElement("td");
    td.className = name;
    tr.appendChild(td);
  }
  return td;
}

function seconds(s) {
  if (s < 60) return s.toFixed(1) + "s";
  const m = Math.floor(s / 60);
  return m + "m" + String(Math.round(s % 60)).padStart(2, "0") + "s";
}

function post(path, what) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(what),
    credentials: "same-origin",
  }).then((r) => r.json()).then((reply) => {
    if (!reply.ok) document.querySelector("#state").textContent = reply.error;
  });
}

function show(row) {
  let tr = rows.get(row.id);
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.worker = row.id;
    for (const name of ["id", "after", "status", "branch", "time", "lines", "cost", "now", "act"]) cell(tr, name);
    cell(tr, "id").addEventListener("click", () => text(row.id, "output", ": its whole output"));
    rows.set(row.id, tr);
    body().appendChild(tr);
  }
  tr.className = row.status.replace(" ", "-");
  tr.dataset.kind = row.kind || "";
  kindSeen(row.kind);
  const kind = row.kind && row.kind !== "shell" && row.kind !== row.id ? " (" + row.kind + ")" : "";
  cell(tr, "id").textContent = row.id + kind;
  cell(tr, "after").textContent = row.depends_on.join(", ");
  let status = row.status;
  if (row.exit && row.exit.code !== null && row.status !== "succeeded") status += " " + row.exit.code;
  if (row.exit && row.exit.signal) status += " " + row.exit.signal;
  if (row.progress !== null && row.status === "running") status += " " + Math.round(row.progress) + "%";
  cell(tr, "status").textContent = status;
  // Its worktree (--worktree): the branch, what it changed once it ended,
  // and its diff on demand.
  const branch = cell(tr, "branch");
  if (row.worktree && branch.dataset.said !== JSON.stringify(row.worktree)) {
    branch.dataset.said = JSON.stringify(row.worktree);
    branch.textContent = row.worktree.branch;
    const stat = row.worktree.error || row.worktree.diff;
    if (stat) {
      const said = document.createElement("span");
      said.className = "stat";
      said.textContent = stat;
      branch.appendChild(said);
    }
    const diff = document.createElement("button");
    diff.textContent = "diff";
    diff.addEventListener("click", () => text(row.id, "diff", ": its diff"));
    branch.appendChild(diff);
  }
  // A running worker's time goes on between its rows: counted here.
  tr.dataset.elapsed = String(row.elapsed_s);
  tr.dataset.since = String(performance.now());
  cell(tr, "time").textContent = seconds(row.elapsed_s);
  cell(tr, "lines").textContent = String(row.lines);
  const tokens = (n) => (n >= 10000 ? Math.round(n / 1000) + "k" : String(n));
  let spent = row.cost_usd === null ? "" : "$" + row.cost_usd.toFixed(4);
  if (row.input_tokens !== null || row.output_tokens !== null) {
    spent += (spent ? " · " : "") + tokens(row.input_tokens || 0) + " in / " + tokens(row.output_tokens || 0) + " out";
  }
  cell(tr, "cost").textContent = spent;
  const now = cell(tr, "now");
  now.textContent = "";
  for (const ask of row.asks) {
    const line = document.createElement("span");
    line.className = "ask";
    line.textContent = "? " + ask.what;
    if (ask.answerable) {
      for (const decision of ["allow", "deny"]) {
        const button = document.createElement("button");
        button.textContent = decision === "allow" ? "Allow" : "Deny";
        button.addEventListener("click", () => post("/answer", { ask: ask.id, decision }));
        line.appendChild(button);
      }
    }
    now.appendChild(line);
  }
  // A running worker's last lines, as the terminal view shows them under
  // its row; then its newest (unless it is the last of those).
  const tail = row.status === "running" ? row.tail : [];
  if (tail.length > 0) {
    const lines = document.createElement("div");
    lines.className = "tail";
    lines.textContent = tail.join("\n");
    now.appendChild(lines);
  }
  if (tail.length === 0 || tail[tail.length - 1] !== row.latest) {
    now.appendChild(document.createTextNode(row.latest));
  }
  // Its buttons (and what a person is typing) stay while it runs: made
  // when it starts running, gone when it stops.
  const act = cell(tr, "act");
  // Stop and Say go through the run's control socket: only a page
  // attached to the run (sc-view --attach RUN --serve) has them.
  const running = row.status === "running" && !ended && document.body.dataset.steer === "yes";
  if (running && act.dataset.for !== "running") {
    act.dataset.for = "running";
    act.textContent = "";
    const stop = document.createElement("button");
    stop.textContent = "Stop";
    stop.addEventListener("click", () => post("/stop", { worker: row.id }));
    act.appendChild(stop);
    // An agent takes words from a person: its next user message.
    if (row.kind && row.kind !== "shell" && row.kind !== "sc") {
      const words = document.createElement("input");
      words.placeholder = "tell it…";
      words.setAttribute("aria-label", "tell " + row.id);
      const say = document.createElement("button");
      say.textContent = "Say";
      say.addEventListener("click", () => {
        if (words.value.trim()) post("/say", { worker: row.id, text: words.value }).then(() => { words.value = ""; });
      });
      act.appendChild(words);
      act.appendChild(say);
    }
  } else if (!running && act.dataset.for === "running") {
    act.dataset.for = "";
    act.textContent = "";
  }
  count(tr, row.status);
  place(tr);
  summary();
}

// Counts kept as rows change (a row's old status out, its new one in), so
// that a thousand rows cost a thousand small updates, not a thousand
// passes over every row.
const counts = { running: 0, failed: 0 };
const was = new Map();
function count(tr, status) {
  const bucket = (s) => (s === "running" ? "running" : s === "failed" || s === "timed out" ? "failed" : null);
  const before = bucket(was.get(tr));
  const after = bucket(status);
  if (before) counts[before] -= 1;
  if (after) counts[after] += 1;
  was.set(tr, status);
}

// The kinds seen so far, each an option of the kind filter.
const kinds = new Set();
function kindSeen(kind) {
  if (!kind || kinds.has(kind)) return;
  kinds.add(kind);
  const option = document.createElement("option");
  option.value = kind;
  option.textContent = kind;
  document.querySelector("#kind").appendChild(option);
}

function shown(tr) {
  const want = document.querySelector("#filter").value;
  const kind = document.querySelector("#kind").value;
  if (kind && tr.dataset.kind !== kind) return false;
  const status = was.get(tr);
  return want === "all" ||
    (want === "failures" && (status === "failed" || status === "timed out")) ||
    (want === "running" && status === "running");
}

function place(tr) {
  tr.classList.toggle("hidden", !shown(tr));
}

function summary() {
  document.querySelector("#summary").textContent =
    rows.size + " workers · " + counts.running + " running · " + counts.failed + " failed";
}

function filter() {
  for (const tr of rows.values()) place(tr);
}

// Rows come in bursts (a page opened on a run of a thousand workers gets
// them in one event). They wait here, each worker's newest row in the
// order the workers came, and are shown a slice at a time, each slice a
// task of its own of a few milliseconds, so that the page answers clicks
// and scrolls as it catches up. A drain is due while any row waits.
const pending = new Map();
function queue(row) {
  if (pending.size === 0) setTimeout(drain, 0);
  pending.set(row.id, row);
}

function drain() {
  const until = performance.now() + 8;
  for (const [id, row] of pending) {
    pending.delete(id);
    show(row);
    if (performance.now() > until) break;
  }
  if (pending.size > 0) setTimeout(drain, 0);
}

// Long tasks (over 50 ms) the page had, for whoever checks it stays smooth.
if (typeof PerformanceObserver !== "undefined" &&
    (PerformanceObserver.supportedEntryTypes || []).includes("longtask")) {
  let long = 0, longest = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      long += 1;
      longest = Math.max(longest, Math.round(entry.duration));
    }
    document.body.dataset.longTasks = String(long);
    document.body.dataset.longestTaskMs = String(longest);
  }).observe({ type: "longtask", buffered: true });
}

// A worker's whole output or its diff, on demand, as text.
function text(id, what, title) {
  const section = document.querySelector("#output");
  fetch("/" + what + "?worker=" + encodeURIComponent(id), { credentials: "same-origin" })
    .then((r) => r.text().then((text) => ({ ok: r.ok, text })))
    .then(({ ok, text }) => {
      section.hidden = false;
      section.dataset.what = what;
      section.querySelector("h2").textContent = id + (ok ? title : "");
      section.querySelector("pre").textContent = ok ? text : JSON.parse(text).error;
    });
}

// The stream ended: a worker with no exit in it ran no longer than that.
let ended = false;

function tick() {
  if (ended) return;
  const now = performance.now();
  for (const tr of rows.values()) {
    if (was.get(tr) !== "running") continue;
    const elapsed = Number(tr.dataset.elapsed) + (now - Number(tr.dataset.since)) / 1000;
    cell(tr, "time").textContent = seconds(elapsed);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setInterval(tick, 1000);
  document.body.dataset.longTasks = document.body.dataset.longTasks || "0";
  document.body.dataset.longestTaskMs = document.body.dataset.longestTaskMs || "0";
  document.querySelector("#filter").addEventListener("change", filter);
  document.querySelector("#kind").addEventListener("change", filter);
  // The run's timeline (drawn by sc-view, an SVG with no script), fetched
  // anew each time it is asked for.
  document.querySelector("#show-timeline").addEventListener("click", () => {
    const figure = document.querySelector("#timeline");
    figure.hidden = false;
    figure.querySelector("img").src = "/timeline.svg?at=" + Date.now();
  });
  const events = new EventSource("/events");
  const state = document.querySelector("#state");
  events.addEventListener("open", () => { state.textContent = "live"; });
  events.addEventListener("rows", (e) => { for (const row of JSON.parse(e.data)) queue(row); });
  events.addEventListener("end", () => {
    state.textContent = "the stream ended";
    events.close();
    ended = true;
    // Nothing is left to stop or tell: the buttons go.
    for (const tr of rows.values()) {
      const act = cell(tr, "act");
      act.dataset.for = "";
      act.textContent = "";
    }
  });
  events.addEventListener("error", () => { if (state.textContent !== "the stream ended") state.textContent = "reconnecting…"; });
});
