// minichain explorer: plain JS, no library, no build step. Reads the node's own API
// (/api/status, /api/headers?from=N&limit=M, /api/blocks/N) and follows /api/events.
// Every string from the node goes into the page as text, never as HTML.
"use strict";

const PAGE = 20;
const HOUR_MS = 3600 * 1000;
const $ = (id) => document.getElementById(id);

let status = null;
let newest = 0; // how many pages back from the tip: 0 is the latest page
const rateSeries = []; // {t, v}
const difficultySeries = []; // {t, v}
// The most points a chart keeps (its last hour's newest): an hour of the rate's
// twice-a-second samples with room to spare. A chain that reorganizes again and
// again would otherwise feed the difficulty chart without end, and each refresh
// looks through its points.
const SERIES_MAX = 8000;
// The most characters of one block the detail view shows: laying out tens of MB of
// text froze the tab.
const BLOCK_SHOWN = 200000;

function text(el, value) { el.textContent = value; }

function fmtRate(r) {
  if (!isFinite(r)) return "–";
  const units = ["", "k", "M", "G", "T"];
  let i = 0;
  while (r >= 1000 && i < units.length - 1) { r /= 1000; i++; }
  return r.toFixed(r < 10 && i > 0 ? 2 : 0) + " " + units[i] + "H/s";
}

function shortHash(h) { return h.length > 16 ? h.slice(0, 8) + "…" + h.slice(-6) : h; }

function fmtTime(ms) {
  const d = new Date(ms);
  return Date.now() - ms < 86400 * 1000 ? d.toLocaleTimeString() : d.toISOString().slice(0, 10);
}

// The answer's text, unparsed (for the block pages, read by rawBlocks); an error
// answer's message as the error.
async function getText(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.text();
  if (!response.ok) {
    let parsed = null;
    try { parsed = JSON.parse(body); } catch (_) { /* not JSON */ }
    throw new Error((parsed && parsed.error) || ("HTTP " + response.status));
  }
  return { body };
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.text();
  let parsed = null;
  try { parsed = JSON.parse(body); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    throw new Error((parsed && parsed.error) || ("HTTP " + response.status));
  }
  return { parsed, body };
}

// Each block's fields as the node wrote them, read off the text of a page answer
// ({"from":...,"headers":[{header}, ...]}): JSON.parse would round nonces past 2^53 and
// respell data (1.50 as 1.5, a repeated key dropped), and a pattern search over the
// text would also find keys inside a block's data. A field is a key at the depth of
// the blocks' own objects (3), its value the text up to the next comma or brace there.
function rawBlocks(body) {
  const blocks = [];
  let depth = 0, inString = false, escaped = false, start = 0;
  let lastString = "", key = null, valueAt = 0, block = null;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') { inString = false; lastString = body.slice(start + 1, i); }
      continue;
    }
    if (c === '"') { inString = true; start = i; continue; }
    if (depth === 3 && c === ":" && key === null) { key = lastString; valueAt = i + 1; continue; }
    if (depth === 3 && (c === "," || c === "}") && key !== null) {
      block[key] = body.slice(valueAt, i).trim();
      key = null;
    }
    if (c === "{" || c === "[") {
      depth++;
      if (depth === 3 && c === "{") block = {};
    } else if (c === "}" || c === "]") {
      if (depth === 3 && c === "}") blocks.push(block);
      depth--;
    }
  }
  return blocks;
}

// A JSON string field's text as a string.
function stringField(raw) {
  try { return String(JSON.parse(raw)); } catch (_) { return raw; }
}

async function refreshStatus() {
  const { parsed } = await getJson("/api/status");
  status = parsed;
  text($("s-height"), status.height);
  text($("s-difficulty"), status.difficulty + " (" + status.next_difficulty + ")");
  text($("s-rate"), fmtRate(status.mining.hash_rate));
  text($("s-mining"), status.mining.active ? "yes (queue " + status.mining.queue + ")" : "idle");
  text($("s-stale"), status.mining.stale_attempts.toLocaleString());
  text($("s-fork"), status.fork_choice);
  text($("tipline"), "tip " + shortHash(status.tip_hash) + " · " + status.mining.threads + " threads · " + status.mining.kernel);
  const sync = $("sync");
  sync.replaceChildren();
  const rows = [
    ["redis", status.redis.enabled ? (status.redis.connected ? "connected" : "disconnected") : "off"],
    ["reconnects", status.redis.reconnects],
    ["published", status.redis.published],
    ["chains adopted", status.sync.accepted],
    ["our own echoed", status.sync.current],
  ];
  for (const [reason, count] of Object.entries(status.sync.rejected)) {
    rows.push(["rejected: " + reason, count]);
  }
  rows.push(["last rejection", status.sync.last_rejection || "none"]);
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    text(dt, k);
    text(dd, String(v));
    sync.append(dt, dd);
  }
  const recent = $("recent");
  recent.replaceChildren();
  for (const m of status.sync.recent || []) {
    const li = document.createElement("li");
    const when = new Date(m.at_ms).toLocaleTimeString();
    text(li, when + " " + m.source + ": " + m.outcome + (m.detail ? " (" + m.detail + ")" : ""));
    recent.append(li);
  }
  if (!recent.children.length) {
    const li = document.createElement("li");
    text(li, "none yet");
    recent.append(li);
  }
  push(rateSeries, status.mining.hash_rate);
  drawCharts();
}

async function refreshBlocks(highlight) {
  const length = status ? status.length : 1;
  const end = Math.max(0, length - newest * PAGE);
  const from = Math.max(0, end - PAGE);
  // Headers, not blocks: each with the first 160 characters of its data, a few hundred
  // bytes a block, where a page of the blocks themselves carries every block's whole
  // data (and the whole text of a large block laid out in a cell froze the tab).
  const { body } = await getText("/api/headers?from=" + from + "&limit=" + Math.max(1, end - from));
  const blocks = rawBlocks(body).map((raw) => ({
    block_no: Number(raw.block_no),
    timestamp: Number(raw.timestamp),
    difficulty: Number(raw.difficulty),
    hash: stringField(raw.hash ?? ""),
    nonce: raw.nonce ?? "",
    data: stringField(raw.data_preview ?? '""') + (raw.data_clipped === "true" ? "…" : ""),
  }));
  const tbody = $("blocks");
  tbody.replaceChildren();
  for (let i = blocks.length - 1; i >= 0; i--) {
    const b = blocks[i];
    const tr = document.createElement("tr");
    tr.dataset.height = b.block_no;
    if (highlight !== undefined && b.block_no === highlight) tr.className = "new";
    const cells = [
      [b.block_no, ""], [fmtTime(b.timestamp), ""], [b.difficulty, ""],
      [shortHash(b.hash), "mono"], [b.nonce, "mono"],
      [b.data, "data"],
    ];
    for (const [v, cls] of cells) {
      const td = document.createElement("td");
      td.className = cls;
      text(td, String(v));
      tr.append(td);
    }
    tr.addEventListener("click", () => showBlock(b.block_no));
    tbody.append(tr);
  }
  text($("page"), from + "–" + (end - 1) + " of " + length);
  $("newer").disabled = newest === 0;
  $("older").disabled = from === 0;
  // The difficulty chart starts from the blocks of the last hour on the first page.
  if (newest === 0) {
    const cutoff = Date.now() - HOUR_MS;
    for (const b of blocks) {
      if (b.timestamp >= cutoff && !difficultySeries.some((p) => p.t === b.timestamp)) {
        difficultySeries.push({ t: b.timestamp, v: b.difficulty });
      }
    }
    difficultySeries.sort((a, b) => a.t - b.t);
    trim(difficultySeries);
    drawCharts();
  }
}

async function showBlock(n) {
  try {
    const { body } = await getText("/api/blocks/" + n);
    text($("d-no"), String(n));
    // The block exactly as the node wrote it: JSON.parse would round big nonces
    // and respell numbers (1.50 → 1.5), which the hash depends on.
    const more = body.length - BLOCK_SHOWN;
    text($("d-body"), more > 0
      ? body.slice(0, BLOCK_SHOWN) + "… (" + more.toLocaleString() + " more characters: the whole block is at /api/blocks/" + n + ")"
      : body);
    $("detail").hidden = false;
  } catch (err) {
    logEvent("error", err.message);
  }
}

// Drops a series' points older than an hour, and the oldest past SERIES_MAX.
function trim(series) {
  const cutoff = Date.now() - HOUR_MS;
  let old = 0;
  while (old < series.length && series[old].t < cutoff) old++;
  series.splice(0, Math.max(old, series.length - SERIES_MAX));
}

function push(series, v, t) {
  series.push({ t: t ?? Date.now(), v });
  trim(series);
}

function drawChart(canvas, series, color, step) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#26303c";
  ctx.strokeRect(pad, 4, w - pad - 4, h - pad);
  const now = Date.now(), t0 = now - HOUR_MS;
  // A loop, not Math.max(...spread): a long spread overflows the call stack.
  let max = 1;
  for (const p of series) if (p.v > max) max = p.v;
  max *= 1.1;
  ctx.fillStyle = "#7d8894";
  ctx.font = "10px sans-serif";
  ctx.fillText(step ? String(Math.round(max)) : fmtRate(max), 2, 12);
  ctx.fillText("-60 min", pad, h - 8);
  ctx.fillText("now", w - 26, h - 8);
  if (!series.length) return;
  const x = (t) => pad + (w - pad - 4) * (t - t0) / HOUR_MS;
  const y = (v) => 4 + (h - pad) * (1 - v / max);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  series.forEach((p, i) => {
    if (i === 0) ctx.moveTo(x(p.t), y(p.v));
    else if (step) { ctx.lineTo(x(p.t), y(series[i - 1].v)); ctx.lineTo(x(p.t), y(p.v)); }
    else ctx.lineTo(x(p.t), y(p.v));
  });
  const last = series[series.length - 1];
  ctx.lineTo(x(now), y(last.v));
  ctx.stroke();
  // Points, so that a few samples in the last seconds still show.
  ctx.fillStyle = color;
  for (const p of series) {
    ctx.beginPath();
    ctx.arc(x(p.t), y(p.v), 2, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function drawCharts() {
  drawChart($("c-rate"), rateSeries, "#4fb3ff", false);
  drawChart($("c-difficulty"), difficultySeries, "#e3b341", true);
}

function logEvent(name, detail) {
  const li = document.createElement("li");
  text(li, new Date().toLocaleTimeString() + " " + name + " " + detail);
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

let refreshing = null;
// The status, and with `blocks` the table too: only a new tip (its `block` event, a
// reorganization's too) changes the blocks, and a page of them can be tens of MB (events that cost a client
// nothing, a refused chain say, must not have every open page fetch it again).
function refreshAll(highlight, blocks = true) {
  // One refresh at a time; a burst of events coalesces into the next one.
  if (refreshing) {
    refreshing.again = true;
    refreshing.blocks ||= blocks;
    if (highlight !== undefined) refreshing.highlight = highlight;
    return;
  }
  refreshing = { again: false, blocks: false };
  const run = async (h, withBlocks) => {
    try {
      await refreshStatus();
      if (withBlocks) await refreshBlocks(h);
    } catch (err) { logEvent("error", err.message); }
    const state = refreshing;
    refreshing = null;
    if (state.again) refreshAll(state.highlight, state.blocks);
  };
  run(highlight, blocks);
}

// How long the page waits before it opens the event stream again after the node
// refused or closed it for good (a 503 when its streams are all taken: the browser
// does not retry such an answer itself); doubled on each refusal, up to a minute.
let followRetryMs = 1000;

function follow() {
  const events = new EventSource("/api/events");
  const live = $("live");
  events.onopen = () => { live.className = "pill on"; text(live, "live"); followRetryMs = 1000; };
  events.onerror = () => {
    live.className = "pill off";
    if (events.readyState === EventSource.CLOSED) {
      const wait = followRetryMs;
      followRetryMs = Math.min(60000, followRetryMs * 2);
      text(live, "offline, retrying in " + Math.round(wait / 1000) + " s");
      setTimeout(follow, wait);
    } else {
      text(live, "reconnecting");
    }
  };
  events.addEventListener("block", (e) => {
    const b = JSON.parse(e.data);
    push(difficultySeries, b.difficulty, b.timestamp);
    logEvent("block", "#" + b.height + " " + shortHash(b.hash) + " (" + b.source + ", difficulty " + b.difficulty + ")");
    refreshAll(b.height);
  });
  events.addEventListener("mining", (e) => {
    const m = JSON.parse(e.data);
    push(rateSeries, m.attempts_per_sec);
    text($("s-rate"), fmtRate(m.attempts_per_sec));
    text($("s-mining"), "job " + m.job_id + " at difficulty " + m.difficulty);
    drawCharts();
  });
  events.addEventListener("reorg", (e) => {
    const r = JSON.parse(e.data);
    logEvent("reorg", "depth " + r.depth + ": #" + r.old_height + " → #" + r.new_height);
  });
  events.addEventListener("restart", (e) => {
    const r = JSON.parse(e.data);
    const last = r.last || {};
    logEvent("restart", (last.received_to_restart_us ?? "?") + " µs, " + (last.stale_attempts ?? 0) + " stale attempts");
    refreshAll(undefined, false);
  });
  events.addEventListener("rejected", (e) => {
    const r = JSON.parse(e.data);
    logEvent("rejected", r.reason + " ×" + r.count);
    refreshAll(undefined, false);
  });
}

$("mine").addEventListener("submit", async (e) => {
  e.preventDefault();
  const result = $("mine-result");
  const button = $("mine-button");
  result.className = "";
  text(result, "mining…");
  button.disabled = true;
  try {
    // The data goes to the node as typed (number spellings, key order kept).
    const raw = $("data").value.trim();
    const response = await fetch("/api/mineblock", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: raw === "" ? "{}" : '{"data": ' + raw + "}",
    });
    const body = await response.text();
    let parsed = null;
    try { parsed = JSON.parse(body); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error((parsed && parsed.error) || ("HTTP " + response.status));
    const chain = parsed.chain;
    const tip = chain[chain.length - 1];
    result.className = "ok";
    text(result, "mined block #" + tip.block_no + " " + shortHash(tip.hash));
    newest = 0;
    refreshAll(tip.block_no);
  } catch (err) {
    result.className = "error";
    text(result, err.message);
  } finally {
    button.disabled = false;
  }
});
$("newer").addEventListener("click", () => { newest = Math.max(0, newest - 1); refreshAll(); });
$("older").addEventListener("click", () => { newest += 1; refreshAll(); });
$("d-close").addEventListener("click", () => { $("detail").hidden = true; });

refreshAll();
follow();
setInterval(() => refreshStatus().catch((err) => logEvent("error", err.message)), 5000);
