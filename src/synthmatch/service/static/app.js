// synthmatch web page: upload a sound, follow the match job, compare target and match (A/B), download
// the preset, read the tutorial. Plain ES2020, no libraries; it talks only to the /v1 API on the same
// origin. Text from JSON goes in with textContent; the one HTML insertion is the server-escaped tutorial.
"use strict";

const $ = (selector) => document.querySelector(selector);
const TERMINAL = new Set(["done", "failed", "cancelled", "interrupted"]);
const DEFAULT_FORMATS = ["wav", "flac", "ogg", "mp3", "aiff"];
const NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const BUDGET_MIN = 16;
const BUDGET_MAX = 512;

const app = { limits: null, file: null, jobId: null, es: null, pollTimer: 0, finished: null, token: 0 };

// ---------------------------------------------------------------- small helpers
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.includes("-") || key === "download" || key === "type") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

function setText(selector, text) {
  const node = $(selector);
  if (node.textContent !== text) node.textContent = text; // no repeated aria-live announcements
}

const fmtBytes = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`);
const fmtDb = (x) => (Number.isFinite(x) ? x.toFixed(2) : "–");
const fmtFormats = (fs) => fs.map((f) => f.toUpperCase()).join(", ").replace(/, ([^,]*)$/, " or $1");
const midiName = (midi) => `${NOTE_NAMES[((midi % 12) + 12) % 12]}${Math.floor(midi / 12) - 1}`;
const jobUrl = (id) => `/v1/matches/${encodeURIComponent(id)}`;

/** "60", "C4", "c#3", "Eb2" → MIDI number, or NaN. */
function parseNote(text) {
  const m = /^([a-g])([#b]?)(-?\d)$/i.exec(text);
  if (!m) return /^\d+$/.test(text) ? Number(text) : NaN;
  return (Number(m[3]) + 1) * 12 + NOTE_NAMES.indexOf(m[1].toUpperCase()) + ({ "#": 1, b: -1 }[m[2]] ?? 0);
}

// ---------------------------------------------------------------- HTTP
const apiError = (status, code, message) => Object.assign(new Error(message), { status, code });

/** The `{"error": {...}}` body of a non-2xx answer as an Error whose message is for people. */
async function errorFrom(res) {
  const error = (await res.json().catch(() => null))?.error ?? {};
  let message = error.message || `The server answered ${res.status} ${res.statusText || ""}`.trim() + ".";
  const retry = res.headers.get("Retry-After");
  if (res.status === 429 && retry && !/\d+\s*s/.test(message)) message += ` Try again in ${retry} s.`;
  return apiError(res.status, error.code || `http_${res.status}`, message);
}

async function request(url, options = {}) {
  const res = await fetch(url, { headers: { Accept: "application/json" }, ...options }).catch(() => {
    throw apiError(0, "network", "Cannot reach the server. Check that `synthmatch serve` is running.");
  });
  if (!res.ok) throw await errorFrom(res);
  return res;
}

const api = async (url, options) => (await request(url, options)).json();

// ---------------------------------------------------------------- alert, health, file choice
const showAlert = (message) => Object.assign($("#alert"), { hidden: !message, textContent: message || "" });

async function loadHealth() {
  try {
    const health = await api("/v1/health");
    app.limits = health.limits ?? null;
    if (health.version) $("#version").textContent = `synthmatch ${health.version}`;
  } catch (err) {
    showAlert(err.message);
  }
  const lim = app.limits ?? {};
  const parts = [fmtFormats(lim.formats ?? DEFAULT_FORMATS)];
  if (lim.max_upload_bytes) parts.push(`up to ${fmtBytes(lim.max_upload_bytes)}`);
  if (lim.max_seconds) parts.push(`up to ${lim.max_seconds} s`);
  $("#limits").textContent = parts.join(" · ");
  if (lim.max_budget) $("#budget").max = String(Math.min(BUDGET_MAX, lim.max_budget));
}

/** A sentence saying why `file` cannot be uploaded, or "" when it looks fine. */
function checkFile(file) {
  const lim = app.limits ?? {};
  const formats = lim.formats ?? DEFAULT_FORMATS;
  const ext = (file.name.includes(".") ? file.name.split(".").pop() : "").toLowerCase();
  const knownExt = formats.includes(ext) || (ext === "aif" && formats.includes("aiff"));
  const name = `“${file.name}”`;
  if (file.size === 0) return `${name} is empty (0 bytes). Choose a recording that has sound in it.`;
  if (lim.max_upload_bytes && file.size > lim.max_upload_bytes) {
    const secs = lim.max_seconds ? ` (at most ${lim.max_seconds} s)` : "";
    return `${name} is ${fmtBytes(file.size)}; the limit is ${fmtBytes(lim.max_upload_bytes)}. `
      + `Trim it to one note${secs} or export it as FLAC or OGG.`;
  }
  if (!file.type.startsWith("audio/") && !knownExt) {
    return `${name} does not look like audio (${file.type || "unknown type"}). `
      + `Choose a ${fmtFormats(formats)} file.`;
  }
  return "";
}

function chooseFile(file) {
  showAlert("");
  if (!file) return;
  const problem = checkFile(file);
  app.file = problem ? null : file;
  $("#file-name").textContent = `${file.name} · ${fmtBytes(file.size)}`;
  $("#submit").disabled = !app.file;
  if (problem) showAlert(problem);
}

/** One whole number from an option field, or throws [message, selector]. */
function readInt(selector, label, fallback, lo, hi) {
  const text = $(selector).value.trim();
  const value = text === "" ? fallback : Number(text);
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw [`${label} must be a whole number from ${lo} to ${hi}; it is “${text}”.`, selector];
  }
  return String(value);
}

/** The option fields as form values; throws [message, selector] when one is out of range. */
function readOptions() {
  const budget = readInt("#budget", "Budget", 64, BUDGET_MIN, Number($("#budget").max) || BUDGET_MAX);
  const candidates = readInt("#candidates-count", "Candidates", 3, 1, 8);
  const text = $("#note").value.trim();
  if (text === "" || text.toLowerCase() === "auto") return { budget, note: "auto", candidates };
  const midi = parseNote(text);
  if (!Number.isInteger(midi) || midi < 0 || midi > 127) {
    throw [`Note must be empty (auto), a MIDI number 0–127 or a name like C4; it is “${text}”.`, "#note"];
  }
  return { budget, note: String(midi), candidates };
}

// ---------------------------------------------------------------- upload and job following
async function upload(event) {
  event.preventDefault();
  if (!app.file) return showAlert("Choose an audio file first: drop it on the box or use “Choose a file…”.");
  const form = new FormData();
  try {
    for (const [key, value] of Object.entries(readOptions())) form.append(key, value);
  } catch (err) {
    $("#options").open = true;
    showAlert(err[0]);
    return $(err[1]).focus();
  }
  const problem = checkFile(app.file);
  if (problem) return showAlert(problem);
  showAlert("");
  form.append("file", app.file, app.file.name);
  const submit = Object.assign($("#submit"), { disabled: true, textContent: "Uploading…" });
  try {
    const answer = await api("/v1/matches", { method: "POST", body: form });
    follow(answer.id, { state: answer.state || "queued", filename: app.file.name });
    loadRecent();
  } catch (err) {
    showAlert(err.message);
  } finally {
    Object.assign(submit, { disabled: !app.file, textContent: "Match this sound" });
  }
}

function stopFollowing() {
  app.es?.close();
  clearTimeout(app.pollTimer);
  Object.assign(app, { es: null, pollTimer: 0 });
}

/** Show job `id` from its last known state; until it ends, follow it with server-sent events,
 * falling back to polling once a second. The URL remembers it, so a reload reopens it. */
function follow(id, job) {
  stopFollowing();
  resetResult();
  Object.assign(app, { jobId: id, finished: null });
  history.replaceState(null, "", `#${id}`);
  if (update({ id, progress: null, ...job })) return;
  if (!("EventSource" in window)) return poll(id);
  const es = new EventSource(`${jobUrl(id)}/events`);
  app.es = es;
  const onEvent = (event) => app.es === es && update(JSON.parse(event.data));
  for (const type of ["progress", ...TERMINAL]) es.addEventListener(type, onEvent);
  es.onerror = () => {
    if (app.es !== es) return;
    stopFollowing();
    poll(id);
  };
}

async function poll(id) {
  if (app.jobId !== id) return;
  try {
    const job = await api(jobUrl(id));
    if (app.jobId !== id || update(job)) return;
  } catch (err) {
    if (app.jobId !== id) return;
    if (err.status === 404) return showAlert(err.message);
    setText("#progress-text", `${err.message} Retrying…`);
  }
  app.pollTimer = setTimeout(() => poll(id), 1000);
}

/** Show a job answer; when it is final, stop following and show its outcome. True when final. */
function update(job) {
  renderJob(job);
  if (!TERMINAL.has(job.state)) return false;
  stopFollowing();
  finish(job);
  return true;
}

function renderJob(job) {
  Object.assign($("#progress"), { hidden: false }).dataset.state = job.state;
  $("#progress-state").dataset.state = job.state;
  setText("#progress-state", job.state);
  setText("#progress-file", job.filename || "");
  const bar = $("#progress-bar");
  const p = job.progress ?? {};
  const fraction = job.state === "done" ? 1 : Number(p.fraction);
  if (job.state === "queued" || !Number.isFinite(fraction)) bar.removeAttribute("value"); // indeterminate
  else bar.value = Math.min(1, Math.max(0, fraction));
  const parts = job.state === "queued" ? ["Waiting in the queue…"] : [];
  if (Number.isFinite(p.done) && p.total > 0) parts.push(`${p.done} of ${p.total} renders`);
  if (job.message) parts.push(job.message);
  setText("#progress-text", parts.join(" — "));
  $("#cancel").hidden = TERMINAL.has(job.state);
  renderWarnings(job.warnings ?? []);
}

function renderWarnings(warnings) {
  $("#warnings").replaceChildren(...warnings.map((w) => el("li", { text: String(w) })));
  $("#notices").hidden = warnings.length === 0;
}

function finish(job) {
  if (app.finished === job.id) return;
  app.finished = job.id;
  const hasResult = Boolean(job.files?.preset);
  if (job.state === "failed") {
    const error = typeof job.error === "string" ? job.error : job.error?.message;
    showAlert(error || job.message || "The match failed. Try another recording, or a smaller budget.");
  } else if (job.state === "interrupted" && !hasResult) {
    showAlert("The server stopped before this match finished. Upload the sound again.");
  }
  if (hasResult) showResult(job);
  loadRecent();
}

async function cancel() {
  const [id, button] = [app.jobId, $("#cancel")];
  if (!id) return;
  button.disabled = true;
  try {
    const job = await api(jobUrl(id), { method: "DELETE" });
    if (app.jobId === id) update(job);
  } catch (err) {
    showAlert(err.message);
  } finally {
    button.disabled = false;
  }
}

async function openJob(id) {
  showAlert("");
  try {
    follow(id, await api(jobUrl(id)));
  } catch (err) {
    showAlert(err.message);
  }
}

// ---------------------------------------------------------------- result view
function resetResult() {
  app.token += 1;
  player.stop();
  Object.assign(player, { buffers: { a: null, b: null }, offset: 0 });
  Object.assign($("#result"), { hidden: true }).dataset.state = "";
  $("#candidates tbody").replaceChildren();
  $("#tutorial").replaceChildren();
  renderWarnings([]);
}

function showResult(job) {
  const token = app.token;
  const result = Object.assign($("#result"), { hidden: false });
  result.dataset.state = job.state;
  const [files, best, a] = [job.files ?? {}, job.best ?? {}, job.analysis ?? {}];
  const parts = [el("b", { text: job.filename || job.id }), ` — best score ${fmtDb(best.score)} dB`];
  if (Number.isFinite(best.metrics?.mss_mel)) parts.push(` (MSS-mel ${fmtDb(best.metrics.mss_mel)})`);
  if (Number.isInteger(a.midi_note)) parts.push(` · note ${midiName(a.midi_note)} (MIDI ${a.midi_note})`);
  if (a.pitched === false) parts.push(" · unpitched");
  if (Number.isFinite(a.note_seconds)) parts.push(` · held ${a.note_seconds.toFixed(2)} s`);
  if (job.state !== "done") parts.push(` · ${job.state}: the best found so far`);
  $("#result-summary").replaceChildren(...parts);
  const links = [["preset", files.preset], ["audio", files.audio], ["tutorial", files.tutorial_md],
    ["report", files.report]];
  for (const [name, url] of links) {
    const link = Object.assign($(`#download-${name}`), { hidden: !url });
    if (url) link.href = url;
  }
  renderCandidates(job.candidates ?? []);
  player.selectSlot("a");
  $("#name-a").textContent = job.filename || "";
  $("#name-b").textContent = "best preset";
  if (files.target) player.load("a", files.target, token);
  if (files.audio) player.load("b", files.audio, token);
  if (files.tutorial) loadTutorial(files.tutorial, token);
  result.focus({ preventScroll: true });
  result.scrollIntoView({ behavior: "smooth", block: "start" });
}

function renderCandidates(candidates) {
  const body = $("#candidates tbody");
  const rows = candidates.map((c) => {
    const play = el("button", { type: "button", class: "button secondary small", text: "Play",
      "aria-label": `Play candidate ${c.rank} as B` });
    const link = el("a", { class: "button secondary small", href: c.preset_url || "#", download: "",
      text: ".vital", "aria-label": `Download the preset of candidate ${c.rank}` });
    const row = el("tr", { "data-rank": String(c.rank) },
      el("td", { class: "num", text: String(c.rank) }), el("td", { class: "num", text: fmtDb(c.score) }),
      el("td", { class: "num opt", text: fmtDb(c.metrics?.mss_mel) }), el("td", { text: c.origin || "" }),
      el("td", {}, play), el("td", {}, link));
    row.classList.toggle("active", c.rank === 1);
    play.addEventListener("click", () => {
      for (const r of body.rows) r.classList.toggle("active", r === row);
      $("#name-b").textContent = c.rank === 1 ? "best preset" : `candidate ${c.rank}`;
      player.selectSlot("b");
      player.load("b", c.audio_url, app.token, true);
    });
    return row;
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colSpan: 6, text: "No candidates." })));
  body.replaceChildren(...rows);
}

async function loadTutorial(url, token) {
  const box = Object.assign($("#tutorial"), { textContent: "Loading the tutorial…" });
  try {
    const text = await (await request(url, { headers: { Accept: "text/html" } })).text();
    // The server escapes every text of the fragment (API contract); nothing else is inserted as HTML.
    if (token === app.token) box.innerHTML = text;
  } catch (err) {
    if (token === app.token) box.textContent = `The tutorial could not be loaded: ${err.message}`;
  }
}

// ---------------------------------------------------------------- A/B player
// Both sounds play at once, each through its own gain; the toggle only swaps the gains, so A and B
// stay at the same position and switching never restarts.

const player = {
  ctx: null, buffers: { a: null, b: null }, slot: "a", nodes: [], playing: false,
  offset: 0, startedAt: 0, raf: 0, loads: { a: 0, b: 0 },
  context() {
    return this.ctx || (this.ctx = new (window.AudioContext || window.webkitAudioContext)());
  },
  duration() {
    return Math.max(this.buffers.a?.duration ?? 0, this.buffers.b?.duration ?? 0);
  },
  position() {
    const t = this.playing ? this.ctx.currentTime - this.startedAt : this.offset;
    return Math.min(this.duration(), Math.max(0, t));
  },
  /** Decode `url` into slot "a" or "b", keeping the playback position (and playing on if it was). */
  async load(slot, url, token, autoplay = false) {
    const [ticket, view] = [++this.loads[slot], $(`#view-${slot}`)];
    view.classList.add("loading");
    try {
      const data = await (await request(url, { headers: { Accept: "audio/wav" } })).arrayBuffer();
      const buffer = await this.context().decodeAudioData(data);
      if (ticket !== this.loads[slot] || token !== app.token) return;
      const [position, wasPlaying] = [this.position(), this.playing];
      this.stop();
      this.buffers[slot] = buffer;
      this.offset = Math.min(position, this.duration());
      drawViews();
      if (wasPlaying || autoplay) this.play();
    } catch (err) {
      const what = slot === "a" ? "the target" : "the match";
      if (token === app.token) showAlert(`Could not load ${what} audio: ${err.message}`);
    } finally {
      view.classList.remove("loading");
    }
  },
  play() {
    const duration = this.duration();
    if (duration === 0) return;
    const ctx = this.context();
    ctx.resume();
    if (this.offset >= duration - 0.01) this.offset = 0;
    const start = ctx.currentTime + 0.02;
    for (const slot of ["a", "b"]) {
      const buffer = this.buffers[slot];
      if (!buffer || this.offset >= buffer.duration) continue;
      const source = new AudioBufferSourceNode(ctx, { buffer });
      const gain = new GainNode(ctx, { gain: slot === this.slot ? 1 : 0 });
      source.connect(gain).connect(ctx.destination);
      source.start(start, this.offset);
      this.nodes.push({ slot, source, gain });
    }
    Object.assign(this, { startedAt: start - this.offset, playing: true });
    this.tick();
  },
  /** Stop the sound; `offset` is where the next play starts. */
  stop() {
    for (const node of this.nodes) node.source.stop();
    Object.assign(this, { nodes: [], playing: false });
    cancelAnimationFrame(this.raf);
  },
  pause(at = this.position()) {
    this.stop();
    this.offset = at;
    this.updateUi();
  },
  toggle() {
    return this.playing ? this.pause() : this.play();
  },
  seek(seconds) {
    const wasPlaying = this.playing;
    this.pause(Math.min(Math.max(0, seconds), this.duration()));
    if (wasPlaying) this.play();
  },
  selectSlot(slot) {
    this.slot = slot;
    for (const node of this.nodes) {
      node.gain.gain.setTargetAtTime(node.slot === slot ? 1 : 0, this.ctx.currentTime, 0.004); // no click
    }
    const toggle = Object.assign($("#ab-toggle"), { textContent: slot === "a" ? "A: target" : "B: match" });
    toggle.dataset.slot = slot;
    $("#view-a").classList.toggle("active", slot === "a");
    $("#view-b").classList.toggle("active", slot === "b");
  },
  tick() {
    if (this.playing && this.position() >= this.duration()) return this.pause(0);
    this.updateUi();
    if (this.playing) this.raf = requestAnimationFrame(() => this.tick());
  },
  updateUi() {
    const [duration, position] = [this.duration(), this.position()];
    const play = Object.assign($("#play"), { textContent: this.playing ? "Pause" : "Play" });
    play.setAttribute("aria-pressed", String(this.playing));
    $("#result").classList.toggle("playing", this.playing);
    $("#result").classList.toggle("paused-mid", !this.playing && position > 0);
    const left = duration > 0 ? `${(100 * position) / duration}%` : "0";
    for (const head of document.querySelectorAll(".playhead")) head.style.left = left;
    $("#time").textContent = `${position.toFixed(2)} / ${duration.toFixed(2)} s`;
  },
};

// ---------------------------------------------------------------- drawing
// Both views share one time axis (the longer sound), so the playhead marks the same instant in each.

const SPEC_FRAMES = 256; // at most this many FFT frames per sound: fast, and wider than most canvases
const SPEC_ROWS = 160;
const SPEC_FMIN = 30;
const SPEC_RANGE_DB = 80;
const cache = new WeakMap();

/** The mono mix of `buffer` and its peak, cached. */
function mono(buffer) {
  const memo = cache.get(buffer) ?? {};
  if (!memo.mono) {
    const [out, channels] = [new Float32Array(buffer.length), buffer.numberOfChannels];
    let peak = 0;
    for (let c = 0; c < channels; c += 1) {
      const data = buffer.getChannelData(c);
      for (let i = 0; i < out.length; i += 1) out[i] += data[i] / channels;
    }
    for (let i = 0; i < out.length; i += 1) peak = Math.max(peak, Math.abs(out[i]));
    cache.set(buffer, Object.assign(memo, { mono: out, peak }));
  }
  return memo;
}

function fitCanvas(canvas) {
  const dpr = Math.min(2, window.devicePixelRatio || 1);
  const [w, h] = [canvas.clientWidth, canvas.clientHeight].map((v) => Math.max(1, Math.round(v * dpr)));
  Object.assign(canvas, { width: w, height: h }); // this also clears it
  return { g: canvas.getContext("2d"), w, h, dpr };
}

/** Min/max per pixel column, on the shared time axis and the shared amplitude `scale`. */
function drawWave(canvas, buffer, duration, scale) {
  const { g, w, h } = fitCanvas(canvas);
  const mid = h / 2;
  g.fillStyle = "#d5dbe6";
  g.fillRect(0, Math.floor(mid), w, 1);
  if (!buffer) return;
  const data = mono(buffer).mono;
  const cols = Math.max(1, Math.round((w * buffer.duration) / duration));
  const per = data.length / cols;
  g.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#3465c9";
  for (let x = 0; x < cols; x += 1) {
    let lo = 0;
    let hi = 0;
    const end = Math.min(data.length, Math.floor((x + 1) * per));
    for (let i = Math.floor(x * per); i < end; i += 1) {
      if (data[i] < lo) lo = data[i];
      else if (data[i] > hi) hi = data[i];
    }
    g.fillRect(x, mid - hi * scale * mid, 1, Math.max(1, (hi - lo) * scale * mid));
  }
}

/** In-place iterative radix-2 FFT of (re, im); the length must be a power of two. */
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i += 1) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) [re[i], re[j], im[i], im[j]] = [re[j], re[i], im[j], im[i]];
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const wr = Math.cos((-2 * Math.PI) / len);
    const wi = Math.sin((-2 * Math.PI) / len);
    for (let i = 0; i < n; i += len) {
      let [cr, ci] = [1, 0];
      for (let a = i; a < i + half; a += 1) {
        const b = a + half;
        const tr = re[b] * cr - im[b] * ci;
        const ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        [cr, ci] = [cr * wr - ci * wi, cr * wi + ci * wr];
      }
    }
  }
}

// magma-like colour stops for the dB colour map, quiet (dark) to loud (light)
const STOPS = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
  [250, 193, 39], [252, 255, 164]];
const LUT = new Uint8ClampedArray(256 * 3).map((_, j) => {
  const x = (Math.floor(j / 3) / 255) * (STOPS.length - 1);
  const k = Math.min(STOPS.length - 2, Math.floor(x));
  return STOPS[k][j % 3] * (1 - (x - k)) + STOPS[k + 1][j % 3] * (x - k);
});

/** The log-frequency dB spectrogram of `buffer` as a small canvas (frames × SPEC_ROWS), cached. */
function spectrogram(buffer) {
  const memo = cache.get(buffer) ?? {};
  if (memo.spec) return memo.spec;
  const [data, sr] = [mono(buffer).mono, buffer.sampleRate];
  const n = sr > 24000 ? 2048 : 1024;
  const frames = Math.max(1, Math.min(SPEC_FRAMES, Math.ceil(data.length / (n / 4))));
  const hop = frames > 1 ? Math.max(0, data.length - n) / (frames - 1) : 0;
  const win = new Float32Array(n).map((_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
  const fmax = Math.min(sr / 2, 20000);
  // row r (0 = bottom) of the log-frequency axis covers FFT bins lo[r]..hi[r]
  const hz = (r) => SPEC_FMIN * (fmax / SPEC_FMIN) ** (r / (SPEC_ROWS - 1));
  const bin = (r) => Math.min(n / 2 - 1, Math.round((hz(r) * n) / sr));
  const lo = Int32Array.from({ length: SPEC_ROWS }, (_, r) => bin(r - 0.5));
  const hi = Int32Array.from({ length: SPEC_ROWS }, (_, r) => Math.max(lo[r], bin(r + 0.5)));
  const [db, re, im] = [new Float32Array(frames * SPEC_ROWS), new Float32Array(n), new Float32Array(n)];
  for (let f = 0; f < frames; f += 1) {
    const start = Math.round(f * hop);
    for (let i = 0; i < n; i += 1) re[i] = (data[start + i] || 0) * win[i];
    im.fill(0);
    fft(re, im);
    for (let r = 0; r < SPEC_ROWS; r += 1) {
      let p = 0;
      for (let k = lo[r]; k <= hi[r]; k += 1) p = Math.max(p, re[k] * re[k] + im[k] * im[k]);
      db[f * SPEC_ROWS + r] = 10 * Math.log10(p + 1e-12);
    }
  }
  const top = db.reduce((m, v) => Math.max(m, v), -Infinity);
  const canvas = el("canvas", { width: frames, height: SPEC_ROWS });
  const g = canvas.getContext("2d");
  const image = g.createImageData(frames, SPEC_ROWS);
  db.forEach((v, i) => {
    const [f, r] = [Math.floor(i / SPEC_ROWS), i % SPEC_ROWS];
    const c = Math.round(Math.max(0, Math.min(1, (v - top) / SPEC_RANGE_DB + 1)) * 255) * 3;
    image.data.set([LUT[c], LUT[c + 1], LUT[c + 2], 255], ((SPEC_ROWS - 1 - r) * frames + f) * 4);
  });
  g.putImageData(image, 0, 0);
  cache.set(buffer, Object.assign(memo, { spec: { canvas, fmax } }));
  return memo.spec;
}

function drawSpec(canvas, buffer, duration) {
  const { g, w, h, dpr } = fitCanvas(canvas); // empty: the CSS background shows
  if (!buffer) return;
  const spec = spectrogram(buffer);
  g.imageSmoothingEnabled = true;
  g.drawImage(spec.canvas, 0, 0, Math.max(1, (w * buffer.duration) / duration), h);
  g.font = `${Math.round(10 * dpr)}px system-ui, sans-serif`;
  g.fillStyle = "rgba(255,255,255,0.75)";
  for (const [hz, label] of [[100, "100 Hz"], [1000, "1 kHz"], [10000, "10 kHz"]]) {
    if (hz >= spec.fmax) continue;
    const y = h - (Math.log(hz / SPEC_FMIN) / Math.log(spec.fmax / SPEC_FMIN)) * h;
    g.fillRect(0, Math.round(y), 6 * dpr, 1);
    g.fillText(label, 8 * dpr, y + 4 * dpr);
  }
}

function drawViews() {
  if ($("#result").hidden) return;
  const duration = player.duration() || 1;
  const peaks = ["a", "b"].map((s) => (player.buffers[s] ? mono(player.buffers[s]).peak : 0));
  const scale = 0.95 / Math.max(1e-6, ...peaks); // one amplitude scale for both, so levels compare
  for (const slot of ["a", "b"]) {
    drawWave($(`#wave-${slot}`), player.buffers[slot], duration, scale);
    drawSpec($(`#spec-${slot}`), player.buffers[slot], duration);
  }
  player.updateUi();
}

// ---------------------------------------------------------------- recent matches
async function loadRecent() {
  const list = $("#recent");
  try {
    const { matches = [] } = await api("/v1/matches");
    const items = matches.map((m) => {
      const score = Number.isFinite(m.best_score) ? `${fmtDb(m.best_score)} dB` : "";
      const when = m.created ? new Date(m.created * 1000).toLocaleString() : "";
      const button = el("button", { type: "button", "aria-label": `Open ${m.filename || m.id}, ${m.state}` },
        el("span", { class: "r-name", text: m.filename || m.id }),
        el("span", { class: "badge", "data-state": m.state, text: m.state }),
        el("span", { class: "r-score", text: score }), el("span", { class: "r-time", text: when }));
      button.addEventListener("click", () => openJob(m.id));
      return el("li", { "data-id": m.id }, button);
    });
    if (items.length === 0) items.push(el("li", { class: "empty", text: "No matches yet." }));
    list.replaceChildren(...items);
  } catch (err) {
    list.replaceChildren(el("li", { class: "empty", text: `Could not load recent matches: ${err.message}` }));
  }
}

// ---------------------------------------------------------------- wiring
function onKey(event) {
  if ($("#result").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target instanceof Element ? event.target : document.body;
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  const key = (event.key || "").toLowerCase();
  if (key === " " && !target.closest("button, a, summary")) { // a focused control activates itself
    event.preventDefault();
    player.toggle();
  } else if (key === "a" || key === "b") {
    player.selectSlot(key);
  }
}

function wireDropZone() {
  const [zone, input] = [$("#drop-zone"), $("#file-input")];
  input.addEventListener("change", () => chooseFile(input.files[0]));
  zone.addEventListener("click", (event) => event.target.closest("label, input") || input.click());
  const highlight = (on) => (event) => {
    event.preventDefault();
    zone.classList.toggle("dragover", on);
  };
  for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, highlight(true));
  zone.addEventListener("dragleave", highlight(false));
  zone.addEventListener("drop", (event) => {
    highlight(false)(event);
    const files = event.dataTransfer?.files ?? [];
    if (files.length === 0) return;
    chooseFile(files[0]);
  });
  // a file dropped next to the zone must not make the browser navigate away from the page
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

function wire() {
  wireDropZone();
  $("#upload-form").addEventListener("submit", upload);
  $("#cancel").addEventListener("click", cancel);
  $("#play").addEventListener("click", () => player.toggle());
  $("#ab-toggle").addEventListener("click", () => player.selectSlot(player.slot === "a" ? "b" : "a"));
  $("#recent-refresh").addEventListener("click", loadRecent);
  for (const wrap of document.querySelectorAll(".wave-wrap")) {
    wrap.addEventListener("click", (e) => player.seek((e.offsetX / wrap.clientWidth) * player.duration()));
  }
  document.addEventListener("keydown", onKey);
  let resizeTimer = 0;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawViews, 120);
  }).observe($(".views"));
}

async function start() {
  wire();
  player.selectSlot("a");
  await loadHealth();
  loadRecent();
  const id = /^#(m_[\w-]+)$/.exec(location.hash);
  if (id) openJob(id[1]);
}

start();
