// AIVM dashboard: a read-only single page over the node's JSON-RPC and WebSocket.
// Data comes from the dashboard_* methods; live updates from eth_subscribe
// newHeads and synergy_dashboard. The page builds DOM nodes (never innerHTML
// with data) and may call only the methods in READ_ONLY.
"use strict";

const READ_ONLY = new Set([
  "dashboard_overview", "dashboard_latest", "dashboard_block", "dashboard_transaction", "dashboard_address",
  "dashboard_contracts", "dashboard_search", "dashboard_validators", "dashboard_computations",
  "dashboard_computation", "dashboard_history", "dashboard_bridges", "eth_subscribe",
]);
const MAX_ROWS = 20;
const MAX_SERIES = 10; // validators drawn in the score chart

const dash = window.__dash = { events: [], renders: [], rendered: {}, errors: [], ready: false, view: null };
const state = { head: null, blocks: [], txs: [], validators: new Map(), inFlight: new Map(), recent: [],
                history: null, charts: {}, ws: null, subs: {}, pending: new Map(), nextId: 1, overview: null };

// -- tiny DOM helpers --
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v; else if (k === "text") el.textContent = v;
    else if (k.startsWith("data-")) el.setAttribute(k, v); else if (k === "href") el.setAttribute("href", v);
    else if (k === "title") el.title = v; else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel, root) => (root || document).querySelector(sel);
const short = (s, n = 10) => (s && s.length > 2 * n + 1 ? s.slice(0, n) + "…" + s.slice(-6) : s || "");
const link = (href, text, cls) => h("a", { href, class: cls || "mono" }, text);
const badge = (text, cls) => h("span", { class: "badge " + cls }, text);
const time = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "");
function eth(wei) {
  const w = BigInt(wei || 0); const e = 10n ** 18n;
  if (w < 10n ** 14n) return `${w.toLocaleString()} wei`; // AI fees are small: show them exactly
  const whole = w / e, frac = (w % e).toString().padStart(18, "0").slice(0, 4);
  return `${whole}.${frac} ETH`;
}
function panel(title, ...children) { return h("section", { class: "panel" }, h("h2", { text: title }), ...children); }
function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { text: x })))),
           h("tbody", {}, rows));
}

// -- JSON-RPC over HTTP (read-only) and the WebSocket --
async function rpc(method, params = []) {
  if (!READ_ONLY.has(method)) throw new Error(`the dashboard is read-only: ${method} is not allowed`);
  const r = await fetch("/", { method: "POST", headers: { "Content-Type": "application/json" },
                              body: JSON.stringify({ jsonrpc: "2.0", id: state.nextId++, method, params }) });
  const body = await r.json();
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

function connect(delay = 500) {
  const ws = new WebSocket(`ws://${location.host}/`);
  state.ws = ws;
  const conn = $("#conn");
  ws.onopen = () => {
    conn.textContent = "live"; conn.className = "conn on";
    wsCall("eth_subscribe", ["newHeads"]).then((sid) => { state.subs[sid] = onHead; });
    wsCall("eth_subscribe", ["synergy_dashboard"]).then((sid) => { state.subs[sid] = onEvent; dash.ready = true; });
    if (state.reconnecting) refresh(); // catch up on what happened while disconnected
    delay = 500; state.reconnecting = false;
  };
  ws.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    if (m.method === "eth_subscription") {
      const fn = state.subs[m.params.subscription];
      if (fn) { try { fn(m.params.result); } catch (e) { report(e); } }
    } else if (m.id !== undefined && state.pending.has(m.id)) {
      const { resolve, reject } = state.pending.get(m.id); state.pending.delete(m.id);
      m.error ? reject(new Error(m.error.message)) : resolve(m.result);
    }
  };
  ws.onclose = () => {
    conn.textContent = "reconnecting…"; conn.className = "conn off"; state.subs = {}; dash.ready = false;
    state.reconnecting = true;
    setTimeout(() => connect(Math.min(delay * 2, 2000)), delay); // a local node: retry often
  };
}
function wsCall(method, params) {
  if (!READ_ONLY.has(method)) return Promise.reject(new Error(`${method} is not allowed`));
  const id = state.nextId++;
  return new Promise((resolve, reject) => {
    state.pending.set(id, { resolve, reject });
    state.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}
function report(e) { dash.errors.push(String(e && e.message || e)); console.warn(e); }

// -- live events --
let latestTimer = null;
function onHead(header) {
  const n = parseInt(header.number, 16);
  state.head = n; $("#head-number").textContent = "#" + n;
  const headTile = $("#tile-head .v"); if (headTile) headTile.textContent = "#" + n;
  const row = { number: n, hash: header.hash, timestamp: parseInt(header.timestamp, 16),
                gas_used: parseInt(header.gasUsed, 16), transactions: null, miner: header.miner };
  state.blocks = [row, ...state.blocks.filter((b) => b.number !== n)].slice(0, MAX_ROWS);
  if (dash.view === "chain") { renderBlockRows(true); }
  dash.rendered[n] = performance.timeOrigin + performance.now();
  clearTimeout(latestTimer); // the transaction list catches up once the burst settles
  latestTimer = setTimeout(loadLatest, 150);
}

function onEvent(ev) {
  dash.events.push({ type: ev.type, id: ev.computation && ev.computation.id, status: ev.computation && ev.computation.status,
                     submitted: ev.computation ? ev.computation.rounds.map((r) => r.submitted) : null, t: Date.now() });
  if (dash.events.length > 2000) dash.events.splice(0, 1000);
  if (ev.type === "computation") {
    const c = ev.computation;
    if (c.status === "Completed" || c.status === "Failed") {
      state.inFlight.delete(c.id);
      state.recent = [c, ...state.recent.filter((x) => x.id !== c.id)].slice(0, 50);
    } else {
      state.inFlight.set(c.id, c);
    }
    if (dash.view === "ai") renderComputations();
    if (dash.view === "computation" && dash.arg === c.id) showComputation(c.id);
  } else if (ev.type === "validator") {
    state.validators.set(ev.validator.address, ev.validator);
    const per = state.history && state.history.validators[ev.validator.address];
    if (per) per.score.push([Date.now() / 1000, ev.validator.score]);
    if (dash.view === "ai") { updateValidatorRow(ev.validator, ev.newly_slashed); later("clusters", renderClusters); if (per) later("charts", updateCharts); }
  } else if (ev.type === "sample") {
    appendSample(ev.time, ev.sample);
    updateFooter();
    if (dash.view === "ai" || dash.view === "security") later("charts", updateCharts);
    if (dash.view === "security") {
      const set = (id, v) => { const e = $(`#${id} .v`); if (e && v !== undefined) e.textContent = String(v); };
      set("pqc-verified", ev.sample.pqc_verified); set("pqc-failed", ev.sample.pqc_failed); set("pqc-encryptions", ev.sample.pqc_encryptions);
    }
    if (dash.view === "bridges") showBridges();
  }
}

// bursts of events (100 validators changing at once) redraw once, not once each
const timers = {};
function later(name, fn, ms = 300) {
  if (timers[name]) return;
  timers[name] = setTimeout(() => { timers[name] = null; try { fn(); } catch (e) { report(e); } }, ms);
}

function appendSample(t, sample) {
  if (!state.history) return;
  for (const [k, v] of Object.entries(sample)) {
    (state.history.series[k] = state.history.series[k] || []).push([t, v]);
    if (state.history.series[k].length > 900) state.history.series[k].shift();
  }
  for (const v of state.validators.values()) {
    const per = state.history.validators[v.address];
    if (per) { per.score.push([t, v.score]); if (per.score.length > 900) per.score.shift(); }
  }
}

// -- router --
const VIEWS = { chain: showChain, ai: showAI, security: showSecurity, bridges: showBridges, block: showBlock,
                tx: showTx, address: showAddress, computation: showComputation };
function route() {
  const [, name, ...rest] = (location.hash || "#/chain").split("/");
  const view = VIEWS[name] ? name : "chain";
  dash.view = view; dash.arg = decodeURIComponent(rest.join("/"));
  for (const a of document.querySelectorAll("#nav a")) {
    const top = { block: "chain", tx: "chain", address: "chain", computation: "ai" }[view] || view;
    a.classList.toggle("active", a.dataset.view === top);
  }
  destroyCharts();
  Promise.resolve(VIEWS[view](dash.arg)).catch((e) => { report(e); mount(h("p", { class: "err", text: e.message })); });
}
function mount(...nodes) { const v = $("#view"); v.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false)); }
function destroyCharts() { for (const c of Object.values(state.charts)) c.destroy(); state.charts = {}; }

let footerBusy = false;
async function updateFooter() {
  if (footerBusy) return; footerBusy = true;
  try {
    const o = state.overview = await rpc("dashboard_overview");
    $("#ai-status").textContent = o.ai_status; $("#chain-id").textContent = o.chain_id;
    const set = (id, v) => { const e = $(`#${id} .v`); if (e) e.textContent = String(v); };
    set("tile-contracts", o.aivm.total_contracts); set("tile-validators", o.aivm.active_validators);
    set("tile-computations", o.aivm.distributed_computations); set("tile-uptime", o.aivm.network_uptime);
  } catch (e) { report(e); } finally { footerBusy = false; }
}

async function refresh() {
  try {
    const o = state.overview = await rpc("dashboard_overview");
    $("#chain-id").textContent = o.chain_id; $("#head-number").textContent = "#" + o.head;
    $("#ai-status").textContent = o.ai_status; state.head = o.head;
  } catch (e) { report(e); }
  route();
}

// -- Chain --
async function loadLatest() {
  try {
    const r = await rpc("dashboard_latest", [MAX_ROWS, MAX_ROWS]);
    state.blocks = r.blocks; state.txs = r.transactions;
    if (dash.view === "chain") { renderBlockRows(false); renderTxRows(); }
  } catch (e) { report(e); }
}

function blockRow(b, fresh) {
  return h("tr", { "data-number": b.number, class: fresh ? "fresh" : null },
    h("td", {}, link(`#/block/${b.number}`, "#" + b.number)), h("td", { class: "mono" }, short(b.hash)),
    h("td", {}, b.transactions === null ? "…" : b.transactions), h("td", {}, b.gas_used.toLocaleString()),
    h("td", { class: "muted" }, time(b.timestamp)));
}
function renderBlockRows(fresh) {
  const body = $("#blocks tbody"); if (!body) return;
  body.replaceChildren(...state.blocks.map((b, i) => blockRow(b, fresh && i === 0)));
}
function txRow(t) {
  return h("tr", { "data-hash": t.hash },
    h("td", {}, link(`#/tx/${t.hash}`, short(t.hash))), h("td", {}, link(`#/block/${t.block}`, "#" + t.block)),
    h("td", {}, link(`#/address/${t.from}`, short(t.from, 6))),
    h("td", {}, t.to ? link(`#/address/${t.to}`, short(t.to, 6)) : t.contract_created ? link(`#/address/${t.contract_created}`, "new " + short(t.contract_created, 6)) : ""),
    h("td", { class: "mono" }, t.method || ""), h("td", {}, t.status ? badge("ok", "ok") : badge("reverted", "bad")));
}
function renderTxRows() {
  const body = $("#txs tbody"); if (!body) return;
  body.replaceChildren(...state.txs.map(txRow));
}

async function showChain() {
  const [latest, contracts] = await Promise.all([rpc("dashboard_latest", [MAX_ROWS, MAX_ROWS]), rpc("dashboard_contracts")]);
  state.blocks = latest.blocks; state.txs = latest.transactions;
  const o = state.overview || {};
  const a = o.aivm || {};
  const kinds = Object.entries(contracts.by_kind);
  mount(
    h("div", { class: "tiles" },
      tile("Head", "#" + latest.head, "tile-head"), tile("Chain id", latest.chain_id),
      tile("Contracts", a.total_contracts ?? 0, "tile-contracts"), tile("Active validators", a.active_validators ?? 0, "tile-validators"),
      tile("AI computations", a.distributed_computations ?? 0, "tile-computations"), tile("Network uptime", a.network_uptime || "", "tile-uptime")),
    h("div", { class: "grid" },
      panel("Latest blocks", table(["Block", "Hash", "Txs", "Gas used", "Time"], [], { id: "blocks" })),
      panel("Latest transactions", table(["Hash", "Block", "From", "To", "Call", "Status"], [], { id: "txs" })),
      panel("Contracts by kind", kinds.length ? kinds.map(([kind, rows]) => h("div", { "data-kind": kind },
        h("h3", {}, `${kind} (${rows.length})`),
        table(["Address", "Deployed in", "Functions"], rows.slice(0, 50).map((c) => h("tr", {},
          h("td", {}, link(`#/address/${c.address}`, c.address)), h("td", {}, c.block != null ? link(`#/block/${c.block}`, "#" + c.block) : ""),
          h("td", {}, c.functions)))))) : h("p", { class: "empty" }, "No contracts deployed through synergy_deployAIVMContract yet."))));
  renderBlockRows(false); renderTxRows();
}
function tile(k, v, id) { return h("div", { class: "tile", id }, h("div", { class: "k", text: k }), h("div", { class: "v", text: String(v) })); }

async function showBlock(arg) {
  const b = await rpc("dashboard_block", [parseInt(arg, 10)]);
  mount(panel(`Block #${b.number}`, h("dl", { class: "kv" },
    kv("Hash", b.hash, true), kv("Parent", b.parent_hash, true), kv("Time", new Date(b.timestamp * 1000).toISOString()),
    kv("Gas used", `${b.gas_used.toLocaleString()} of ${b.gas_limit.toLocaleString()}`), kv("Base fee", b.base_fee + " wei"),
    kv("State root", b.state_root, true)),
    h("h3", { text: `Transactions (${b.transactions_list.length})` }),
    table(["Hash", "Block", "From", "To", "Call", "Status"], b.transactions_list.map(txRow))));
}
function kv(k, v, mono) { return [h("dt", { text: k }), h("dd", { class: mono ? "mono" : null }, v instanceof Node ? v : String(v ?? ""))]; }

function argList(args) {
  return h("table", { class: "args" }, h("tbody", {}, (args || []).map((a) => h("tr", {},
    h("td", { class: "muted" }, `${a.name} (${a.type}${a.indexed ? ", indexed" : ""})`),
    h("td", { class: "mono" }, typeof a.value === "object" ? JSON.stringify(a.value) : String(a.value))))));
}
async function showTx(arg) {
  const t = await rpc("dashboard_transaction", [arg]);
  const call = t.decoded_call;
  mount(panel("Transaction", h("dl", { class: "kv", id: "tx-detail" },
      kv("Hash", t.hash, true), kv("Status", t.status ? badge("success", "ok") : badge("reverted", "bad")),
      kv("Block", link(`#/block/${t.block}`, "#" + t.block)), kv("From", link(`#/address/${t.from}`, t.from)),
      kv("To", t.to ? link(`#/address/${t.to}`, t.to) : t.contract_created ? h("span", {}, "contract creation: ", link(`#/address/${t.contract_created}`, t.contract_created)) : ""),
      kv("Contract kind", t.contract_kind || "unknown (not deployed through synergy_deployAIVMContract)"),
      kv("Value", eth(t.value)), kv("Gas used", `${t.gas_used.toLocaleString()} (limit ${t.gas.toLocaleString()})`),
      kv("Nonce", t.nonce)),
    t.revert ? h("div", { id: "revert" }, h("h3", { text: "Revert reason" }),
      h("p", { class: "err" }, t.revert.reason || "reverted without a reason"),
      t.revert.args ? argList(t.revert.args) : null) : null,
    h("h3", { text: "Call" }),
    h("div", { id: "decoded-call" }, call ? [h("div", { class: "mono" }, call.function), call.error ? h("p", { class: "err", text: call.error }) : argList(call.args)]
      : h("p", { class: "muted" }, `${t.input_size} bytes of input; no recorded ABI decodes it`)),
    h("h3", { text: `Events (${t.events.length})` }),
    h("div", { id: "events" }, t.events.map((e) => h("div", { class: "panel", "data-log": e.log_index },
      h("div", {}, e.decoded ? h("strong", { class: "mono" }, e.decoded.event) : h("span", { class: "muted" }, "undecoded log"),
        " from ", link(`#/address/${e.address}`, short(e.address, 8))),
      e.decoded && !e.decoded.error ? argList(e.decoded.args) : h("div", { class: "mono muted" }, e.topics.join(" "), " ", short(e.data, 20)))))));
}

async function showAddress(arg) {
  const a = await rpc("dashboard_address", [arg]);
  const v = a.validator;
  mount(panel(a.contract ? `Contract (${a.contract.kind})` : v ? "Validator" : "Account", h("dl", { class: "kv" },
      kv("Address", a.address, true), kv("Synergy form", a.syn, true), kv("Balance", eth(a.balance)), kv("Nonce", a.nonce),
      kv("Code", a.code_size ? `${a.code_size} bytes` : "none"),
      a.contract ? kv("Deployed", link(`#/tx/${a.contract.transaction_hash}`, short(a.contract.transaction_hash))) : null,
      v ? kv("Stake", eth(v.stake)) : null, v ? kv("Synergy score", v.score) : null,
      v ? kv("Rewards / slashed", `${eth(v.rewards)} / ${eth(v.slashed)}`) : null,
      v ? kv("Uptime", (100 * v.uptime).toFixed(0) + "%") : null, v ? kv("Shards held", v.shards.join(", ") || "none") : null,
      v ? kv("Attestation", v.attested ? badge("valid", "ok") : badge(v.attestation_error || "none", "warn")) : null,
      v ? kv("Eligible for AI work", v.ineligible ? v.ineligible : badge("yes", "ok")) : null,
      v ? kv("Tasks", `${v.tasks_completed} completed, ${v.tasks_failed} failed (${v.agreed} agreed, ${v.disagreed} disagreed, ${v.timeouts} timed out)`) : null,
      v && BigInt(v.slashed) > 0n ? kv("Status", badge("slashed", "bad")) : null),
    v ? [h("h3", { text: "Synergy score and uptime over time" }), h("div", { class: "chart" }, h("canvas", { id: "chart-validator" }))] : null,
    a.contract ? [h("h3", { text: "Functions" }), h("ul", {}, a.contract.functions.map((f) => h("li", { class: "mono", text: f }))),
                  h("h3", { text: "Events" }), h("ul", {}, a.contract.events.map((f) => h("li", { class: "mono", text: f })))] : null));
  if (v) {
    const hist = await rpc("dashboard_history", [[v.address]]);
    const per = hist.validators[v.address] || {};
    lineChart("chart-validator", [{ label: "synergy score", data: pts(per.score), borderColor: PALETTE[0], borderWidth: 1.5 },
      { label: "uptime %", data: (per.uptime || []).map(([t, u]) => ({ x: t, y: 100 * u })), borderColor: PALETTE[1], borderWidth: 1.5 }],
      { y: { suggestedMin: 0, suggestedMax: 100 } });
  }
}

// -- AI network --
async function showAI() {
  const [vals, comps, hist] = await Promise.all([rpc("dashboard_validators"), rpc("dashboard_computations"), rpc("dashboard_history", [[]])]);
  state.validators = new Map(vals.validators.map((v) => [v.address, v]));
  state.inFlight = new Map(comps.in_flight.map((c) => [c.id, c]));
  state.recent = comps.recent;
  const top = vals.validators.slice().sort((a, b) => b.score - a.score).slice(0, MAX_SERIES).map((v) => v.address);
  state.history = top.length ? await rpc("dashboard_history", [top]) : hist;
  for (const a of top) state.history.validators[a] = state.history.validators[a] || { score: [] };
  const status = vals.ai_status === "ready" ? null : h("p", { class: "notice" }, "Distributed AI: " + vals.ai_status);
  mount(status,
    h("div", { class: "grid" },
      panel("Synergy score over time", h("div", { class: "chart" }, h("canvas", { id: "chart-scores" }))),
      panel("AI usage fees paid to validators", h("div", { class: "chart" }, h("canvas", { id: "chart-fees" })))),
    panel("Computations", h("div", { id: "computations" })),
    panel(`Validators (${vals.validators.length})`, table(["Validator", "Stake", "Score", "Uptime", "Shards", "Attestation",
        "Rewards", "Slashed", "Tasks ok/failed", "Cluster"], [], { id: "validators" })),
    h("div", { class: "grid" },
      panel("Proof-of-Synergy clusters", h("div", { id: "cluster-box" }))));
  renderClusters();
  const body = $("#validators tbody");
  body.replaceChildren(...vals.validators.map((v) => validatorRow(v)));
  renderComputations();
  drawAICharts();
}

function renderClusters() {
  const box = $("#cluster-box"); if (!box) return;
  const groups = new Map();
  for (const v of state.validators.values()) if (v.cluster) (groups.get(v.cluster) || groups.set(v.cluster, []).get(v.cluster)).push(v);
  const rows = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([id, members]) => h("tr", { "data-cluster": id },
    h("td", {}, "#" + id), h("td", { class: "mono" }, members.map((v) => short(v.address, 8)).join(", ")),
    h("td", {}, (members.reduce((s, v) => s + v.score, 0) / members.length).toFixed(1)),
    h("td", {}, members.filter((v) => v.uptime > 0.95).length)));
  box.replaceChildren(rows.length ? table(["Cluster", "Members", "Mean score", "Online"], rows, { id: "clusters" })
                                  : h("p", { class: "empty" }, "No attested validators yet."));
}

function validatorRow(v, fresh) {
  const slashed = BigInt(v.slashed || 0) > 0n;
  return h("tr", { "data-address": v.address, class: [slashed ? "slashed" : "", fresh ? "fresh" : ""].join(" ").trim() || null },
    h("td", {}, link(`#/address/${v.address}`, short(v.address, 8)), slashed ? [" ", badge("slashed", "bad")] : null),
    h("td", {}, eth(v.stake)), h("td", {}, v.score.toFixed(1)), h("td", {}, (100 * v.uptime).toFixed(0) + "%"),
    h("td", { class: "mono" }, v.shards.join(", ") || "—"),
    h("td", {}, v.attested ? badge("valid", "ok") : badge(v.attestation_error || "none", "warn"),
      v.lapsed ? badge("lapsed", "warn") : null),
    h("td", {}, eth(v.rewards)), h("td", { class: slashed ? "err" : null }, eth(v.slashed)),
    h("td", {}, `${v.tasks_completed} / ${v.tasks_failed}`), h("td", {}, v.cluster ? "#" + v.cluster : "—"));
}
function updateValidatorRow(v, newlySlashed) {
  const body = $("#validators tbody"); if (!body) return;
  const row = validatorRow(v, newlySlashed);
  const old = body.querySelector(`tr[data-address="${v.address}"]`);
  old ? old.replaceWith(row) : body.append(row);
}

function voteChip(vote) {
  const cls = ["vote", vote.status, vote.agrees === true ? "agree" : vote.agrees === false ? "disagree" : ""].join(" ");
  const what = vote.status === "Submitted" ? (vote.agrees === false ? "disagreed" : vote.agrees ? "agreed" : "voted") : vote.status.toLowerCase();
  return h("span", { class: cls, title: `${vote.validator} ${what}${vote.latency_ms != null ? ` in ${vote.latency_ms} ms` : ""}` },
           short(vote.validator, 6), " ", what);
}
const ROUNDS_SHOWN = 6; // a text generation has one round per stage per token: the table shows the newest
function computationRow(c, all) {
  const statusCls = { Completed: "ok", Failed: "bad", Running: "info", Pending: "info" }[c.status] || "info";
  const submitted = c.rounds.reduce((s, r) => s + r.submitted, 0);
  dash.renders.push({ id: c.id, status: c.status, submitted, rounds: c.rounds.length, t: Date.now() });
  if (dash.renders.length > 2000) dash.renders.splice(0, 1000);
  return h("tr", { "data-id": c.id, "data-status": c.status, "data-submitted": submitted },
    h("td", {}, link(`#/computation/${c.id}`, c.id)), h("td", {}, c.model_id),
    h("td", {}, badge(c.status, statusCls), c.cached ? badge("cached", "info") : null, c.reason ? h("div", { class: "err", text: c.reason }) : null),
    h("td", {}, !all && c.rounds.length > ROUNDS_SHOWN ? h("div", { class: "muted" }, `… ${c.rounds.length - ROUNDS_SHOWN} earlier rounds`) : null,
      (all ? c.rounds : c.rounds.slice(-ROUNDS_SHOWN)).map((r) => h("div", { class: "round", "data-step": r.step, "data-stage": r.stage },
      h("span", { class: "muted" }, `step ${r.step} stage ${r.stage}: ${r.agreeing} agree ` + (r.weighted
        ? `(${(100 * r.agreeing_share).toFixed(0)}% of the stake, ${(100 * r.required_share).toFixed(0)}% needed)`
        : `(${r.required} needed)`) + `, ${r.submitted} voted `),
      r.decided ? badge("decided", "ok") : null, h("div", { class: "votes" }, r.votes.map(voteChip))))),
    h("td", {}, c.certificate ? h("span", {}, `${c.certificate.signers.length} signers, ${c.certificate.level}`) : "—"));
}
function renderComputations() {
  const box = $("#computations"); if (!box) return;
  const rows = [...[...state.inFlight.values()].sort((a, b) => b.created - a.created), ...state.recent].slice(0, 30);
  box.replaceChildren(rows.length ? table(["Computation", "Model", "Status", "Rounds and votes", "Quorum certificate"], rows.map((c) => computationRow(c)))
                                   : h("p", { class: "empty" }, "No computations yet: they appear here as they start."));
}

async function showComputation(id) {
  const c = await rpc("dashboard_computation", [id]);
  if (dash.view !== "computation" || dash.arg !== id) return;
  const v = c.verification;
  mount(panel(`Computation ${c.id}`, h("dl", { class: "kv" },
      kv("Model", c.model_id), kv("Status", c.status), c.reason ? kv("Reason", c.reason) : null,
      kv("Requester", c.requester ? link(`#/address/${c.requester}`, c.requester) : "RPC (synergy_initiateDistributedAI)"), kv("Started", new Date(c.created * 1000).toISOString()),
      kv("Rounds", c.rounds_done), kv("Input", `${c.input_size} bytes`), kv("Result", c.result || "—", true)),
    h("h3", { text: "Rounds and votes" }), table(["Computation", "Model", "Status", "Rounds and votes", "Quorum certificate"], [computationRow(c, true)]),
    h("h3", { text: "Quorum certificate" }),
    c.certificate ? h("dl", { class: "kv", id: "certificate" }, kv("Signers", c.certificate.signers.join(", "), true),
      kv("Threshold", c.certificate.threshold), kv("Level", c.certificate.level), kv("Validator set", c.certificate.set_id, true),
      kv("Size", c.certificate.size + " bytes")) : h("p", { class: "muted" }, "none (no quorum formed)"),
    v ? h("div", { id: "verification", "data-valid": String(v.valid) }, h("h3", { text: "Verification (synergy_verifyAIResult)" }),
      v.valid ? badge("certificate valid", "ok") : badge("not valid", "bad"),
      h("span", {}, v.valid ? ` ${v.signers} of ${v.set_size} signed, ${v.required} required` : " " + (v.reason || ""))) : null));
}

// -- charts --
const PALETTE = ["#5aa9ff", "#3ecf8e", "#f5b942", "#ff6b6b", "#b48cff", "#4dd4d4", "#ff9f5a", "#9fd35a", "#ff7fc4", "#c0c6d4"];
function lineChart(id, datasets, opts) {
  const canvas = document.getElementById(id); if (!canvas || !window.Chart) return null;
  const chart = new window.Chart(canvas, { type: (opts && opts.type) || "line", data: { datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      scales: { x: { type: "linear", ticks: { color: "#8a95ad", callback: (v) => new Date(v * 1000).toLocaleTimeString() } },
                y: { beginAtZero: !(opts && opts.y), ticks: { color: "#8a95ad" }, ...(opts && opts.y) },
                ...(opts && opts.y1 ? { y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, ticks: { color: "#8a95ad", precision: 0 } } } : {}) },
      plugins: { legend: { labels: { color: "#dde3f0", boxWidth: 10 } } }, elements: { point: { radius: 0 } } } });
  state.charts[id] = chart;
  return chart;
}
const pts = (series) => (series || []).map(([t, v]) => ({ x: t, y: v }));
function deltas(series) {
  const out = []; for (let i = 1; i < (series || []).length; i++) out.push({ x: series[i][0], y: series[i][1] - series[i - 1][1] });
  return out;
}
function drawAICharts() {
  const hist = state.history; if (!hist) return;
  lineChart("chart-scores", Object.entries(hist.validators).map(([a, per], i) => ({ label: short(a, 6), data: pts(per.score),
    borderColor: PALETTE[i % PALETTE.length], borderWidth: 1.5 })), { y: { suggestedMin: 60, suggestedMax: 100 } });
  lineChart("chart-fees", [{ label: "fees per interval (wei)", data: deltas(hist.series.ai_fees), borderColor: PALETTE[2], borderWidth: 1.5 },
    { label: "completed computations", data: pts(hist.series.ai_completed), borderColor: PALETTE[1], borderWidth: 1.5, yAxisID: "y1" }],
    { y1: true });
}
function drawSecurityCharts() {
  const s = state.history && state.history.series; if (!s) return;
  lineChart("chart-pqc", [{ label: "signatures verified", data: pts(s.pqc_verified), borderColor: PALETTE[0], borderWidth: 1.5 },
    { label: "verification failures", data: pts(s.pqc_failed), borderColor: PALETTE[3], borderWidth: 1.5 },
    { label: "encryptions", data: pts(s.pqc_encryptions), borderColor: PALETTE[1], borderWidth: 1.5 }]);
  const algos = new Set(), levels = new Set();
  for (const [, v] of s.pqc_by_algorithm || []) for (const op of Object.values(v)) Object.keys(op).forEach((k) => algos.add(k));
  for (const [, v] of s.pqc_by_level || []) Object.keys(v).forEach((k) => levels.add(k));
  lineChart("chart-algorithms", [...algos].map((a, i) => ({ label: a, borderColor: PALETTE[i % PALETTE.length], borderWidth: 1.5,
    data: (s.pqc_by_algorithm || []).map(([t, v]) => ({ x: t, y: (v.verified[a] || 0) + (v.encrypted[a] || 0) })) })));
  lineChart("chart-levels", [...levels].map((l, i) => ({ label: l, borderColor: PALETTE[(i + 4) % PALETTE.length], borderWidth: 1.5,
    data: (s.pqc_by_level || []).map(([t, v]) => ({ x: t, y: v[l] || 0 })) })));
}
function updateCharts() {
  if (dash.view !== "ai" && dash.view !== "security") return;
  destroyCharts(); dash.view === "ai" ? drawAICharts() : drawSecurityCharts();
}

// -- Security --
async function showSecurity() {
  const [o, hist] = await Promise.all([rpc("dashboard_overview"), rpc("dashboard_history", [[]])]);
  state.history = hist;
  const p = o.pqc, b = p.by_algorithm;
  const algos = new Set([...Object.keys(b.verified), ...Object.keys(b.failed), ...Object.keys(b.encrypted)]);
  mount(
    h("div", { class: "tiles" }, tile("Signatures verified", p.total_signatures_verified, "pqc-verified"),
      tile("Verification failures", p.signature_failures, "pqc-failed"), tile("Encryptions", p.total_encryptions_performed, "pqc-encryptions"),
      tile("Decryptions", p.decryptions), tile("PQC families active", p.active_pqc_algorithms),
      tile("Self-test", p.quantum_attack_resistance)),
    h("div", { class: "grid" },
      panel("Signatures and encryptions over time", h("div", { class: "chart" }, h("canvas", { id: "chart-pqc" }))),
      panel("Operations by algorithm over time", h("div", { class: "chart" }, h("canvas", { id: "chart-algorithms" }))),
      panel("Operations by security level over time", h("div", { class: "chart" }, h("canvas", { id: "chart-levels" }))),
      panel("By algorithm (since the node started)", table(["Algorithm", "Verified", "Failed", "Encryptions"],
        [...algos].sort().map((a) => h("tr", { "data-algorithm": a }, h("td", { class: "mono" }, a), h("td", {}, b.verified[a] || 0),
          h("td", {}, b.failed[a] || 0), h("td", {}, b.encrypted[a] || 0))), { id: "algorithms" })),
      panel("By security level", table(["Level", "Operations"], Object.entries(p.security_level_distribution).map(([l, n]) =>
        h("tr", { "data-level": l }, h("td", {}, l), h("td", {}, n))), { id: "levels" }))));
  drawSecurityCharts();
}

// -- Bridges --
async function showBridges() {
  const b = await rpc("dashboard_bridges", [50]);
  if (dash.view !== "bridges") return;
  if (!b.configured) { mount(panel("Bridges", h("p", { class: "empty", id: "no-bridges" }, b.message || "no bridges configured"))); return; }
  mount(panel(`Lanes (${b.lanes.length})`, table(["Lane", "From", "To", "Status", "Transfers", "Last activity"], b.lanes.map((l) =>
      h("tr", { "data-lane": l.id }, h("td", { class: "mono" }, l.id), h("td", {}, l.source_chain), h("td", {}, l.target_chain),
        h("td", {}, l.status), h("td", {}, l.transfers), h("td", {}, time(l.last_activity)))), { id: "lanes" })),
    panel(`Transfers (${b.transfers.length})`, table(["Transfer", "Lane", "Amount", "From → to", "State", "Attestations"], b.transfers.map((t) =>
      h("tr", { "data-transfer": t.id }, h("td", { class: "mono" }, short(t.id)), h("td", { class: "mono" }, t.lane), h("td", {}, `${t.amount} ${t.asset}`),
        h("td", { class: "mono" }, `${short(t.sender, 6)} → ${short(t.recipient, 6)}`),
        h("td", {}, badge(t.state, { Completed: "ok", Failed: "bad", Refunded: "warn" }[t.state] || "info")),
        h("td", {}, `${(t.attestations || []).filter((a) => a.valid).length} / ${t.required}`,
          h("div", { class: "votes" }, (t.attestations || []).map((a) => h("span", { class: "vote " + (a.valid ? "agree" : "disagree") }, short(a.validator, 6))))))),
      { id: "transfers" })));
}

// -- search --
async function search(q) {
  const r = await rpc("dashboard_search", [q]);
  const target = { block: () => `#/block/${r.number}`, transaction: () => `#/tx/${r.hash}`, address: () => `#/address/${r.address}`,
                   computation: () => `#/computation/${r.id}` }[r.kind];
  const notice = $("#notice");
  if (target) { notice.hidden = true; location.hash = target(); } else { notice.textContent = r.message; notice.hidden = false; }
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  $("#search").addEventListener("submit", (e) => { e.preventDefault(); search($("#search-input").value).catch(report); });
  refresh();
  connect();
});
