// The review page's script (spark_lib/review/app.py): calls the JSON API, renders every value with
// textContent (never innerHTML), and times each action (window.rcuReview.timings, read by
// benchmarks/bench_review_page.py).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const REVIEWER_KEY = "rcu.review.reviewer";
  const state = { reviewer: "", pair: null, history: [], busy: false, renders: 0 };
  const timings = [];
  window.rcuReview = { timings, state };

  function storedReviewer() {
    try { return (localStorage.getItem(REVIEWER_KEY) || "").trim(); } catch (e) { return ""; }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function number(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function say(text, ok) {
    const box = $("message");
    box.textContent = text;
    box.className = ok ? "ok" : "";
    box.hidden = !text;
  }

  async function api(method, path, body) {
    const options = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      let detail = data && data.detail !== undefined ? data.detail : response.statusText;
      if (Array.isArray(detail)) detail = detail.map((d) => (d.loc || []).join(".") + ": " + d.msg).join("; ");
      const error = new Error(String(detail));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // One timed action: fetch(es) and render, in the browser's clock.
  async function timed(action, work) {
    if (state.busy) return;
    state.busy = true;
    document.body.dataset.state = "busy";
    const start = performance.now();
    try {
      await work();
      timings.push({ action, ms: performance.now() - start });
    } catch (error) {
      say(error.message || String(error));
    } finally {
      state.busy = false;
      state.renders += 1;
      document.body.dataset.renders = String(state.renders);
      document.body.dataset.state = "ready";
    }
  }

  function showProgress(progress) {
    if (!progress) return;
    $("progress").textContent =
      `${progress.decided} decided · ${progress.pending} pending · ${progress.queued} queued`;
  }

  function showReviewer() {
    const known = Boolean(state.reviewer);
    $("reviewer-form").hidden = known;
    $("reviewer-bar").hidden = !known;
    $("reviewer-name").textContent = state.reviewer;
    for (const button of document.querySelectorAll("[data-decision], #btn-undo")) button.disabled = !known;
    if (!known) $("reviewer-input").focus();
  }

  function saveReviewer() {
    const name = $("reviewer-input").value.trim();
    if (!name) {
      $("reviewer-error").textContent = "A reviewer name is required before any decision.";
      $("reviewer-error").hidden = false;
      return;
    }
    state.reviewer = name;
    try { localStorage.setItem(REVIEWER_KEY, name); } catch (e) { /* private mode: kept for this page only */ }
    $("reviewer-error").hidden = true;
    showReviewer();
    $("reviewer-input").blur();
  }

  function renderFields(pair) {
    $("key-l").textContent = pair.record_key_l;
    $("key-r").textContent = pair.record_key_r;
    $("customer-l").textContent = pair.customer_id_l || "—";
    $("customer-r").textContent = pair.customer_id_r || "—";
    const body = $("fields").tBodies[0];
    clear(body);
    for (const field of pair.fields) {
      const row = el("tr", `status-${field.status}`);
      row.dataset.field = field.field;
      row.dataset.status = field.status;
      row.appendChild(el("th", "", field.field)).scope = "row";
      for (const value of [field.left, field.right]) {
        const cell = el("td");
        if (value === null) cell.appendChild(el("span", "none", "(none)"));
        else cell.textContent = value;
        row.appendChild(cell);
      }
      body.appendChild(row);
    }
  }

  // The comparisons' weights as a waterfall: each bar starts where the sum of the previous ones ends.
  function renderWaterfall(pair) {
    const box = $("waterfall");
    clear(box);
    const steps = (pair.comparisons || []).filter((c) => Number.isFinite(Number(c.match_weight)));
    if (!steps.length) {
      box.appendChild(el("p", "none", "No comparison weights for this pair (the model does not score it)."));
      return;
    }
    let sum = 0;
    const spans = steps.map((c) => {
      const from = sum;
      sum += Number(c.match_weight);
      return { c, from, to: sum };
    });
    const total = pair.match_weight === null || pair.match_weight === undefined ? sum : Number(pair.match_weight);
    const ends = [0, total, ...spans.flatMap((s) => [s.from, s.to])];
    const lo = Math.min(...ends), hi = Math.max(...ends), width = hi - lo || 1;
    const at = (x) => `${((x - lo) / width) * 100}%`;
    const row = (label, title, from, to, className, value) => {
      const line = el("div", `wf-row ${className}`);
      const name = el("span", "wf-label", label);
      name.title = title;
      const track = el("div", "wf-track");
      const zero = el("div", "wf-zero");
      zero.style.left = at(0);
      const bar = el("div", `wf-bar ${to >= from ? "pos" : "neg"}`);
      bar.style.left = at(Math.min(from, to));
      bar.style.width = `${(Math.abs(to - from) / width) * 100}%`;
      track.append(zero, bar);
      line.append(name, track, el("span", "wf-value", (value >= 0 ? "+" : "") + value.toFixed(2)));
      return line;
    };
    for (const s of spans) {
      const level = s.c.level === null || s.c.level === undefined ? "" : ` (${s.c.level})`;
      const values = [s.c.value_l, s.c.value_r].map((v) => (v === null || v === undefined ? "—" : String(v)));
      box.appendChild(row(`${s.c.comparison}${level}`, `${values[0]} / ${values[1]}`, s.from, s.to, "step",
        Number(s.c.match_weight)));
    }
    box.appendChild(row("Match weight", "sum of the weights", 0, total, "total", total));
  }

  function renderPair(pair) {
    state.pair = pair;
    $("pair").hidden = false;
    $("done").hidden = true;
    $("pair-id").textContent = pair.pair_id;
    $("priority").textContent = number(pair.priority, 2);
    $("probability").textContent = number(pair.match_probability, 3);
    $("weight").textContent = number(pair.match_weight, 2);
    const status = $("pair-status");
    if (pair.decision && !pair.pending) {
      status.textContent = `decided: ${pair.decision.decision} by ${pair.decision.reviewer}`;
      status.className = "decided";
    } else {
      status.textContent = pair.decision ? `pending (earlier decision: ${pair.decision.decision})` : "pending";
      status.className = "";
    }
    const reasons = $("reasons");
    clear(reasons);
    for (const reason of pair.reasons) reasons.appendChild(el("li", "", reason));
    renderFields(pair);
    renderWaterfall(pair);
    showProgress(pair.progress);
  }

  function showDone() {
    state.pair = null;
    $("pair").hidden = true;
    $("done").hidden = false;
  }

  async function fetchPair(pairId, remember) {
    const pair = await api("GET", `/api/pairs/${encodeURIComponent(pairId)}`);
    if (remember && state.pair && state.pair.pair_id !== pair.pair_id) state.history.push(state.pair.pair_id);
    renderPair(pair);
  }

  function openPair(pairId) { return timed("load", () => fetchPair(pairId, true)); }

  function first() {
    return timed("open", async () => {
      const queue = await api("GET", "/api/queue?limit=1");
      showProgress(queue.progress);
      if (queue.pairs.length) await fetchPair(queue.pairs[0].pair_id, false);
      else showDone();
    });
  }

  function next() {
    if (!state.pair) return first();
    const target = state.pair.next_pair_id;
    if (!target) { say("No other pending pair."); return Promise.resolve(); }
    return timed("next", () => fetchPair(target, true));
  }

  function previous() {
    const target = state.history.pop();
    if (!target) return Promise.resolve();
    return timed("previous", () => fetchPair(target, false));
  }

  function decide(decision) {
    if (!state.reviewer) { say("Enter your name first: a reviewer is required."); showReviewer(); return Promise.resolve(); }
    if (!state.pair) return Promise.resolve();
    const pair = state.pair;
    return timed("decide", async () => {
      const result = await api("POST", `/api/pairs/${encodeURIComponent(pair.pair_id)}/decision`, {
        decision, reviewer: state.reviewer, reason: $("reason").value, origin: "page",
        record_hash_l: pair.record_hash_l, record_hash_r: pair.record_hash_r,
      });
      $("reason").value = "";
      say(`Saved: ${decision} for ${pair.pair_id}.`, true);
      showProgress(result.progress);
      if (result.next) {
        state.history.push(pair.pair_id);
        renderPair(result.next);
      } else showDone();
    });
  }

  function undo() {
    if (!state.reviewer) return Promise.resolve();
    return timed("undo", async () => {
      const result = await api("POST", "/api/undo", { reviewer: state.reviewer });
      say(`Undone: ${result.undone.decision} for ${result.undone.pair_id}.`, true);
      await fetchPair(result.undone.pair_id, true);
    });
  }

  function search() {
    const query = $("search-input").value.trim();
    if (!query) return Promise.resolve();
    return timed("search", async () => {
      const result = await api("GET", `/api/search?q=${encodeURIComponent(query)}`);
      const list = $("search-results");
      clear(list);
      $("search-status").textContent = `${result.pairs.length} pair(s) found`;
      for (const found of result.pairs) {
        const item = el("li", found.pending ? "pending" : "decided");
        const button = el("button", "", `${found.label_l} ↔ ${found.label_r}`);
        button.type = "button";
        button.dataset.pairId = found.pair_id;
        button.addEventListener("click", () => openPair(found.pair_id));
        item.append(button, el("span", "", ` — ${found.pair_id} · ${found.pending ? "pending" : found.decision || "decided"}`));
        list.appendChild(item);
      }
    });
  }

  function onKey(event) {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    if (typing) {
      if (event.key === "Escape") target.blur();
      else if (event.key === "Enter" && target.id === "search-input") search();
      else if (event.key === "Enter" && target.id === "reviewer-input") saveReviewer();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const actions = {
      s: () => decide("same"), d: () => decide("different"), u: () => decide("unsure"),
      n: next, j: next, k: previous, p: previous, z: undo,
      "/": () => $("search-input").focus(),
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  }

  function start() {
    state.reviewer = storedReviewer();
    showReviewer();
    $("reviewer-save").addEventListener("click", saveReviewer);
    $("reviewer-change").addEventListener("click", () => {
      $("reviewer-input").value = state.reviewer;
      state.reviewer = "";
      showReviewer();
    });
    for (const button of document.querySelectorAll("[data-decision]")) {
      button.addEventListener("click", () => decide(button.dataset.decision));
    }
    $("btn-next").addEventListener("click", next);
    $("btn-prev").addEventListener("click", previous);
    $("btn-undo").addEventListener("click", undo);
    $("search-go").addEventListener("click", search);
    document.addEventListener("keydown", onKey);
    first();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
