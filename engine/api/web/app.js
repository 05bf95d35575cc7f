// servos dashboard: plain JavaScript, no build step. Everything it shows
// comes from the API under /v1 and stays current through its event
// streams (server-sent events read with fetch, so that a bearer token can
// go with them, and resumed with Last-Event-ID after a break).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const MAX_LOG_LINES = 2000;
const CHART_POINTS = 40;

const state = {
  token: sessionStorage.getItem("servos-token") || "",
  stacks: new Map(),      // name -> the stack as GET /v1/stacks/{name} answers it
  fetchedAt: new Map(),   // name -> when (ms), for uptimes that keep counting
  selected: null,         // {stack, service}
  readOnly: false,        // the read-only token: nothing to change, buttons off
  logStream: null,
  statsStream: null,
  series: new Map(),      // "service-N" -> {cpu: [], mem: [], last: {ts, cpu}}
};

// ---- the API -------------------------------------------------------------------

function headers(extra = {}) {
  const h = {...extra};
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

async function api(method, path, body) {
  const opts = {method, headers: headers(body ? {"Content-Type": "application/json"} : {})};
  if (body) opts.body = JSON.stringify(body);
  const r = await fetch(path, opts);
  if (r.status === 401) {
    askToken();
    throw new Error("a token is needed");
  }
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(data && data.error ? data.error.message : "HTTP " + r.status);
  return data;
}

// An event stream: fn(event) for each; reconnects after a break (with the
// last id seen, so nothing is missed) until stopped.
function stream(path, fn, {resume = false} = {}) {
  const ctl = {stopped: false, abort: null, lastId: null};
  (async () => {
    let delay = 500;
    while (!ctl.stopped) {
      const ac = new AbortController();
      ctl.abort = () => ac.abort();
      try {
        const h = headers({Accept: "text/event-stream"});
        if (resume && ctl.lastId) h["Last-Event-ID"] = ctl.lastId;
        const r = await fetch(path, {headers: h, signal: ac.signal});
        if (r.status === 401) { askToken(); return; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        setConn(true);
        delay = 500;
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buf += dec.decode(value, {stream: true});
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const ev = {id: null, event: "message", data: []};
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const i = line.indexOf(":");
              const k = i < 0 ? line : line.slice(0, i);
              const v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
              if (k === "data") ev.data.push(v);
              else if (k === "id") ev.id = v;
              else if (k === "event") ev.event = v;
            }
            if (!ev.data.length) continue;
            if (ev.id) ctl.lastId = ev.id;
            ev.data = ev.data.join("\n");
            try { fn(ev); } catch (e) { console.error(e); }
          }
        }
        if (ctl.stopped || !resume) return; // a finite stream ended
      } catch (e) {
        if (ctl.stopped) return;
        setConn(false);
      }
      await new Promise((ok) => setTimeout(ok, delay));
      delay = Math.min(delay * 2, 8000);
    }
  })();
  ctl.stop = () => { ctl.stopped = true; if (ctl.abort) ctl.abort(); };
  return ctl;
}

function setConn(live) {
  const c = $("#conn");
  c.textContent = live ? "live" : "reconnecting…";
  c.className = "conn " + (live ? "live" : "down");
}

let toastTimer = null;
function say(text) {
  const t = $("#status");
  t.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.textContent = ""; }, 6000);
}

function askToken() {
  $("#login").hidden = false;
  $("#main").hidden = true;
  $("#token").focus();
}

// ---- helpers ----------------------------------------------------------------------

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function duration(s) {
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + Math.floor(s / 3600) % 24 + "h";
}

// hh:mm:ss.mmm in the browser's time zone.
function clock(ms) {
  const t = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}`;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}

function confirmThen(text, label, fn) {
  const d = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = label;
  d.returnValue = "";
  d.onclose = () => { if (d.returnValue === "ok") fn(); };
  d.showModal();
  $("#confirm-ok").focus();
}

// ---- stacks ------------------------------------------------------------------------

async function loadStacks() {
  const list = await api("GET", "/v1/stacks");
  const names = new Set(list.map((s) => s.name));
  for (const n of [...state.stacks.keys()]) if (!names.has(n)) state.stacks.delete(n);
  await Promise.all(list.map((s) => loadStack(s.name, false)));
  render();
}

async function loadStack(name, draw = true) {
  try {
    const s = await api("GET", "/v1/stacks/" + encodeURIComponent(name));
    state.stacks.set(name, s);
    state.fetchedAt.set(name, Date.now());
  } catch (e) {
    state.stacks.delete(name);
  }
  if (draw) render();
}

const pending = new Set();
function refreshSoon(name) {
  if (pending.has(name)) return;
  pending.add(name);
  setTimeout(() => {
    pending.delete(name);
    if (state.stacks.has(name)) loadStack(name); else loadStacks().catch(() => {});
  }, 150);
}

function badge(cls, text) {
  return el("span", {class: "badge " + cls, text});
}

// Attributes of a button that changes something: off for the read-only token.
function writeAttrs() {
  return state.readOnly ? {disabled: true, title: "the read-only token cannot change anything"} : {};
}

function serviceActions(stack, svc, desired) {
  const input = el("input", {type: "number", min: "0", max: "1000", value: String(desired ?? 1),
    id: `scale-${stack}-${svc}`, "aria-label": `replicas of ${svc}`,
    oninput: (e) => { e.target.dataset.typed = "1"; }});
  return el("div", {class: "actions"},
    el("button", {type: "button", "data-action": "logs", "aria-pressed": String(isSelected(stack, svc)),
      onclick: () => select(stack, svc), text: "Logs"}),
    el("button", {...writeAttrs(), type: "button", "data-action": "restart", "aria-label": `Restart ${svc}`,
      onclick: () => confirmThen(`Restart every replica of ${svc} in stack ${stack}, one at a time?`,
        "Restart", () => act("POST", `/v1/stacks/${enc(stack)}/restart`, {service: svc}, `${svc} restarted`)),
      text: "Restart"}),
    el("span", {class: "scale"}, input,
      el("button", {...writeAttrs(), type: "button", "data-action": "scale", "aria-label": `Scale ${svc}`,
        onclick: () => {
          const n = parseInt(input.value, 10);
          if (!(n >= 0 && n <= 1000)) { say("Replicas: a number from 0 to 1000"); input.focus(); return; }
          confirmThen(`Scale ${svc} in stack ${stack} to ${n} replica${n === 1 ? "" : "s"}?`, "Scale",
            () => { delete input.dataset.typed;
              act("POST", `/v1/stacks/${enc(stack)}/scale`, {service: svc, replicas: n}, `${svc} scaled to ${n}`); });
        }, text: "Scale"})));
}

const enc = encodeURIComponent;
const isSelected = (stack, svc) => !!state.selected && state.selected.stack === stack && state.selected.service === svc;

async function act(method, path, body, done) {
  say("working…");
  try {
    await api(method, path, body);
    say(done);
  } catch (e) {
    say("failed: " + e.message);
  }
}

function renderStack(s) {
  const since = (Date.now() - (state.fetchedAt.get(s.name) || Date.now())) / 1000;
  const tbody = el("tbody");
  const byService = new Map();
  for (const r of s.replicas) {
    if (!byService.has(r.service)) byService.set(r.service, []);
    byService.get(r.service).push(r);
  }
  for (const name of Object.keys(s.services)) if (!byService.has(name)) byService.set(name, []);
  for (const [svc, reps] of byService) {
    const sum = s.services[svc] || {};
    tbody.append(el("tr", {class: "svc", "data-service": svc},
      el("td", {colspan: "7"},
        el("div", {class: "stackhead"},
          el("h3", {text: `${svc} — ${sum.running ?? 0}/${sum.desired ?? reps.length} running`}),
          serviceActions(s.name, svc, sum.desired ?? reps.length)))));
    for (const r of reps) {
      const up = r.state === "running" ? duration(Math.round(r.uptime + since)) : "–";
      const upBase = r.state === "running" ? String(Date.now() - (r.uptime + since) * 1000) : null;
      tbody.append(el("tr", {"data-replica": `${svc}-${r.replica}`, "data-pid": String(r.pid),
          "data-state": r.state},
        el("td", {"data-label": "replica", text: `${svc}-${r.replica}`}),
        el("td", {"data-label": "state"}, badge("s-" + r.state,
          r.state + (r.state === "exited" && r.exit_code !== null ? ` (${r.exit_code}${r.oom ? ", OOM" : ""})` : ""))),
        el("td", {"data-label": "health"}, r.health ? badge("h-" + r.health, r.health) : "–"),
        el("td", {"data-label": "pid", class: "num pid", text: r.pid ? String(r.pid) : "–"}),
        el("td", {"data-label": "uptime", class: "num uptime", "data-since": upBase, text: up}),
        el("td", {"data-label": "restarts", class: "num", text: String(r.restarts)}),
        el("td", {"data-label": "ports", text: (r.ports || []).join(", ") || "–"})));
    }
  }
  const table = el("table", {class: "replicas"},
    el("caption", {class: "sr-only", text: `replicas of ${s.name}`}),
    el("thead", {}, el("tr", {}, ...["replica", "state", "health", "pid", "uptime", "restarts", "ports"]
      .map((h) => el("th", {scope: "col", text: h})))), tbody);
  return el("article", {class: "stack", "data-stack": s.name, "aria-labelledby": `stack-${s.name}`},
    el("div", {class: "stackhead"},
      el("h3", {id: `stack-${s.name}`, text: s.name}),
      el("button", {...writeAttrs(), type: "button", class: "danger", "data-action": "down",
        "aria-label": `Take stack ${s.name} down`,
        onclick: () => confirmThen(`Take stack ${s.name} down: stop and remove every replica? Its named volumes stay.`,
          "Take down", () => act("DELETE", `/v1/stacks/${enc(s.name)}`, null, `${s.name} is down`)),
        text: "Down"})),
    s.source ? el("p", {class: "source", text: "from " + s.source + (s.commit ? " at " + s.commit.slice(0, 12) : "")}) : null,
    el("div", {class: "tablewrap"}, table));
}

function render() {
  const box = $("#stacks");
  // Keep the focus where it was across a redraw (a button of a row).
  const f = document.activeElement;
  const key = f && f.closest && f.closest("[data-service]") ?
    [f.closest("[data-stack]")?.dataset.stack, f.closest("[data-service]").dataset.service, f.dataset.action || f.id] : null;
  // A replica count being typed survives the redraw.
  const typed = new Map([...box.querySelectorAll("input[data-typed]")].map((i) => [i.id, i.value]));
  box.replaceChildren(...[...state.stacks.values()].sort((a, b) => a.name.localeCompare(b.name)).map(renderStack));
  for (const [id, v] of typed) {
    const i = document.getElementById(id);
    if (i) { i.value = v; i.dataset.typed = "1"; }
  }
  $("#nostacks").hidden = state.stacks.size > 0;
  if (key) {
    const row = box.querySelector(`[data-stack="${CSS.escape(key[0] || "")}"] [data-service="${CSS.escape(key[1])}"]`);
    const again = row && (row.querySelector(`[data-action="${CSS.escape(key[2] || "")}"]`) || row.querySelector(`#${CSS.escape(key[2] || "x")}`));
    if (again) again.focus();
  }
  if (state.selected && !state.stacks.has(state.selected.stack)) deselect();
}

// ---- one service: logs and charts ---------------------------------------------------------

function deselect() {
  if (state.logStream) state.logStream.stop();
  if (state.statsStream) state.statsStream.stop();
  state.selected = null;
  $("#detail").hidden = true;
}

function select(stack, service) {
  deselect();
  state.selected = {stack, service};
  state.series.clear();
  $("#detail").hidden = false;
  $("#detail-h").textContent = `${service} in ${stack}`;
  $("#logs").replaceChildren();
  $("#charts").replaceChildren();
  updateCount();
  render();
  state.logStream = stream(`/v1/stacks/${enc(stack)}/logs?service=${enc(service)}&follow=1&tail=200`, onLog);
  state.statsStream = stream(`/v1/stacks/${enc(stack)}/stats?stream=1`, onStats, {resume: true});
  $("#detail").scrollIntoView({block: "nearest"});
}

// The line into span, each match of q (lower case) marked.
function highlight(span, text, q) {
  if (!q) { span.textContent = text; return; }
  span.replaceChildren();
  const low = text.toLowerCase();
  let i = 0, j;
  while ((j = low.indexOf(q, i)) >= 0) {
    span.append(text.slice(i, j), el("mark", {text: text.slice(j, j + q.length)}));
    i = j + q.length;
  }
  span.append(text.slice(i));
}

function onLog(ev) {
  const d = JSON.parse(ev.data);
  const list = $("#logs");
  const q = $("#search").value.trim().toLowerCase();
  const text = el("span", {class: "line"});
  const li = el("li", {"data-replica": `${d.service}-${d.replica}`},
    el("span", {class: "who", text: `${d.service}-${d.replica} `}),
    el("time", {class: "when", datetime: d.ts ? new Date(d.ts).toISOString() : "",
      text: d.ts ? clock(d.ts) + " " : ""}),
    text);
  li.dataset.text = d.line;
  highlight(text, d.line, q);
  li.hidden = !!q && !d.line.toLowerCase().includes(q);
  list.append(li);
  while (list.children.length > MAX_LOG_LINES) list.firstChild.remove();
  if ($("#follow").checked) list.scrollTop = list.scrollHeight;
  updateCount();
}

function applySearch() {
  const q = $("#search").value.trim().toLowerCase();
  for (const li of $("#logs").children) {
    li.hidden = !!q && !li.dataset.text.toLowerCase().includes(q);
    highlight(li.querySelector(".line"), li.dataset.text, q);
  }
  updateCount();
}

function updateCount() {
  const all = $("#logs").children.length;
  const shown = [...$("#logs").children].filter((li) => !li.hidden).length;
  $("#logcount").textContent = shown === all ? `${all} lines` : `${shown} of ${all} lines match`;
}

// A small chart: the latest value at the right edge, older ones to its
// left, over a baseline; values scaled to max.
function sparkline(values, max, cls) {
  const w = 200, h = 40, step = w / (CHART_POINTS - 1);
  const ns = "http://www.w3.org/2000/svg";
  const y = (v) => (h - 2 - (max ? v / max : 0) * (h - 6)).toFixed(1);
  const pts = values.map((v, i) => `${(w - (values.length - 1 - i) * step).toFixed(1)},${y(v)}`);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const base = document.createElementNS(ns, "line");
  for (const [k, v] of [["x1", 0], ["x2", w], ["y1", h - 1], ["y2", h - 1], ["class", "base"]]) base.setAttribute(k, v);
  svg.append(base);
  if (pts.length) {
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", `${pts[0].split(",")[0]},${h - 1} ${pts.join(" ")} ${w},${h - 1}`);
    area.setAttribute("class", cls + "-area");
    svg.append(area);
  }
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("class", cls);
  svg.append(line);
  return svg;
}

function onStats(ev) {
  const d = JSON.parse(ev.data);
  if (!state.selected) return;
  const svc = state.selected.service;
  const box = $("#charts");
  const seen = new Set();
  for (const r of d.replicas) {
    if (r.service !== svc) continue;
    const key = `${r.service}-${r.replica}`;
    seen.add(key);
    let s = state.series.get(key);
    if (!s) { s = {cpu: [], mem: [], last: null}; state.series.set(key, s); }
    if (r.cpu_seconds !== null && s.last && d.ts > s.last.ts && r.pid === s.last.pid)
      s.cpu.push(Math.max(0, (r.cpu_seconds - s.last.cpu) / ((d.ts - s.last.ts) / 1000) * 100));
    else if (s.last) s.cpu.push(0);
    s.last = {ts: d.ts, cpu: r.cpu_seconds, pid: r.pid};
    s.mem.push(r.memory_bytes || 0);
    for (const a of [s.cpu, s.mem]) while (a.length > CHART_POINTS) a.shift();
    const cpuNow = s.cpu.length ? s.cpu[s.cpu.length - 1] : 0;
    const memNow = r.memory_bytes;
    const cpuMax = Math.max(5, ...s.cpu);
    const memMax = Math.max(1, ...s.mem);
    const summary = `${key}: CPU ${cpuNow.toFixed(1)}%, memory ${bytes(memNow)}, ${r.tasks ?? "?"} tasks`;
    let card = box.querySelector(`[data-chart="${CSS.escape(key)}"]`);
    const fresh = el("figure", {class: "chart", "data-chart": key, role: "img", "aria-label": summary},
      el("h3", {text: key}),
      sparkline(s.cpu, cpuMax, "cpu"),
      el("p", {text: `CPU ${cpuNow.toFixed(1)}% (peak ${cpuMax.toFixed(0)}%)`}),
      sparkline(s.mem, memMax, "mem"),
      el("p", {text: `memory ${bytes(memNow)} · ${r.tasks ?? "?"} tasks`}));
    if (card) card.replaceWith(fresh); else box.append(fresh);
  }
  for (const card of [...box.children]) if (!seen.has(card.dataset.chart)) card.remove();
}

// ---- events ---------------------------------------------------------------------------

const BAD = new Set(["container.die", "container.oom"]);
function describe(e) {
  const who = e.service ? `${e.stack}/${e.service}-${e.replica}` : e.name || e.stack || "";
  switch (e.type) {
    case "container.die": return `${who} exited (${e.exit_code}${e.oom ? ", OOM killed" : ""})`;
    case "container.oom": return `${who} was killed by its memory limit`;
    case "container.health": return `${who} is ${e.health}`;
    case "container.restart": return `${who} restarted (${e.restarts})`;
    case "stack.applied": return `stack ${e.stack} applied (${e.detail || ""})`;
    case "stack.down": return `stack ${e.stack} taken down`;
    case "image.pull": return `pulled ${e.detail}`;
    case "image.remove": return `removed image ${e.detail}`;
    default: return `${who} ${e.type.replace("container.", "")}`;
  }
}

function onEvent(ev) {
  const e = JSON.parse(ev.data);
  if (ev.event === "gap") { say("some older events were pruned"); return; }
  const list = $("#events");
  const when = new Date(e.ts);
  list.prepend(el("li", {"data-type": e.type},
    el("time", {datetime: e.time, text: when.toLocaleTimeString()}),
    el("span", {class: BAD.has(e.type) ? "t-bad" : "", text: describe(e)})));
  while (list.children.length > 200) list.lastChild.remove();
  if (e.stack) refreshSoon(e.stack);
}

// ---- start ----------------------------------------------------------------------------

let started = false;
async function start() {
  // One request first: without a token where one is needed, the form
  // comes up and nothing else is asked.
  try {
    state.readOnly = (await api("GET", "/v1")).read_only;
  } catch (e) {
    if ($("#login").hidden) { setConn(false); say(e.message); setTimeout(start, 2000); }
    return;
  }
  $("#login").hidden = true;
  $("#main").hidden = false;
  if (started) return;
  started = true;
  loadStacks().then(() => setConn(true)).catch((e) => { setConn(false); say(e.message); });
  stream("/v1/events?backlog=50", onEvent, {resume: true});
  // Uptimes keep counting between updates.
  setInterval(() => {
    for (const td of document.querySelectorAll("td.uptime[data-since]"))
      td.textContent = duration(Math.max(0, Math.round((Date.now() - Number(td.dataset.since)) / 1000)));
  }, 1000);
}

$("#login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  try {
    await api("GET", "/v1");
    sessionStorage.setItem("servos-token", state.token);
    $("#login-error").textContent = "";
    start();
  } catch (e) {
    $("#login-error").textContent = "Not accepted: " + e.message;
    $("#login").hidden = false;
  }
});
$("#search").addEventListener("input", applySearch);
$("#clearlogs").addEventListener("click", () => { $("#logs").replaceChildren(); updateCount(); });
$("#follow").addEventListener("change", () => {
  if ($("#follow").checked) $("#logs").scrollTop = $("#logs").scrollHeight;
});

start();
