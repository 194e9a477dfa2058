// privacy-lineage console: plain JavaScript, no framework, no build step, nothing loaded from the internet.
// This file: helpers, the API, sign-in and routing, reports, the audit trail. person.js draws a person's data;
// lists.js shows recipients and alerts. The API token is kept in sessionStorage (this tab only) and sent as
// "Authorization: Bearer".
// A person's id is never put in the page's address (history) — only in the API request made for a lookup.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "lineage.token";
const RECIPIENT_TYPES = ["authority", "affiliate", "business_partner", "advertiser", "investor", "successor",
  "service_provider", "data_broker", "other_third_party"];
const state = { me: null, vocab: {}, alertTimer: null, person: null, alerts: [], alertSort: null, turn: 0 };

// -- small helpers --------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) if (c) node.append(c);
  return node;
}

function when(iso) {
  if (!iso) return "";
  // the API gives UTC instants ("...Z" or "+00:00"): to the second, and saying so
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)$/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso.replace("T", " ");
}
function day(iso) { return iso ? iso.slice(0, 10) : ""; }
// a table cell for an instant: the day, and under it the time with its zone (narrow enough for a laptop's table)
function whenCell(iso) {
  const text = when(iso);
  return el("td", { class: "nowrap when" }, text.slice(0, 10), text.length > 10 ? el("div", { class: "hint", text: text.slice(11) }) : null);
}
function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
// Cut text to fit `px` pixels in `font` (measured, so a bold or wide label is cut as much as it needs).
function fitText(text, px, font) {
  const ctx = (fitText.canvas = fitText.canvas || document.createElement("canvas")).getContext("2d");
  ctx.font = font;
  if (ctx.measureText(text).width <= px) return text;
  let n = text.length;
  while (n > 1 && ctx.measureText(text.slice(0, n - 1) + "…").width > px) n--;
  return text.slice(0, n - 1) + "…";
}
// A dotted key (user.contact.email) that may wrap after its dots, never inside a word.
function dotted(text, cls) {
  const span = el("span", { class: cls || "mono" });
  (text || "").split(".").forEach((part, i) => { if (i) span.append(".", el("wbr")); span.append(part); });
  return span;
}
function rtClass(type) { return RECIPIENT_TYPES.includes(type) ? "rt-" + type : "rt-other_third_party"; }
function swatch(type) { return el("span", { class: "swatch " + rtClass(type), title: type }); }
function chips(items) { return el("div", { class: "chips" }, items.map((x) => el("span", { text: x }))); }

// Human names from the server's vocabulary (/api/vocabulary): taxonomy labels, recipient and source types, the
// policy's descriptions of systems. The machine key stays one hover away (title) or in small print.
function label(kind, key, fallback) {
  if (!key) return fallback === undefined ? "" : fallback;
  const entry = (state.vocab[kind] || {})[key];
  const text = entry && typeof entry === "object" ? entry.label : entry;
  return text || (fallback === undefined ? key : fallback);
}
function keyed(kind, key) {
  return el("span", { class: "keyed", title: key }, label(kind, key), el("span", { class: "key" }, " ", dotted(key, "")));
}
function named(kind, keys) {
  return el("div", { class: "chips" }, keys.map((k) => el("span", { title: k, text: label(kind, k) })));
}
function th(...names) { return el("tr", {}, names.map((n) => el("th", { text: n }))); }

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = "message" + (kind === "info" ? " info" : "");
  box.hidden = !text;
}

// -- the API --------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, options) {
  const opts = Object.assign({ method: "GET" }, options || {});
  opts.headers = Object.assign({ "Authorization": "Bearer " + token(), "X-Lineage-Client": "page" }, opts.headers || {});
  opts.cache = "no-store";
  const res = await fetch(path, opts);
  if (res.status === 401) {
    signOut("The token was refused (missing, wrong or revoked). Sign in again.");
    throw new ApiError(401, "unauthorised");
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { const body = await res.json(); detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res;
}
async function getJson(path) { return (await api(path)).json(); }

async function download(path, fallbackName) {
  const res = await api(path);
  const blob = await res.blob();
  const cd = res.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(cd);
  const a = el("a", { href: URL.createObjectURL(blob), download: m ? m[1] : fallbackName });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function failed(where, err) {
  if (err instanceof ApiError && err.status === 401) return;
  const text = err instanceof ApiError ? `${err.status}: ${err.message}` : String(err);
  where.replaceChildren(el("p", { class: "warn", text: "Could not load: " + text }));
}

// -- sign in / out and routing --------------------------------------------------------------------
function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  state.vocab = {};
  state.person = null;
  state.recipientNames = null;
  for (const id of ["person-result", "recipients-result", "alerts-result", "reports-result", "audit-result"]) $(id).replaceChildren();
  showMessage(reason || "", "info");
  route();
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  state.me = null;
  state.person = null;
  showMessage("");
  await route();
}

const VIEWS = { person: showPerson, recipients: showRecipients, alerts: showAlerts, reports: showReports, audit: showAudit, evidence: showEvidence };
const ALLOWED = { person: ["dpo"], recipients: ["dpo", "auditor"], alerts: ["dpo", "auditor"], reports: ["dpo", "auditor"], audit: ["dpo"], evidence: ["dpo", "auditor"] };

function showOnly(id) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== id;
}

async function route() {
  clearInterval(state.alertTimer);
  const turn = ++state.turn; // a later navigation wins over an earlier one still waiting for the server
  if (!token()) {
    $("nav").hidden = true; $("signout").hidden = true; $("whoami").textContent = "";
    showOnly("view-login");
    return;
  }
  if (!state.me) {
    let me;
    try { me = await getJson("/api/me"); } catch (e) { if (!(e instanceof ApiError && e.status === 401)) showMessage(String(e.message || e)); return; }
    if (turn !== state.turn) return;
    state.me = me;
    if (me.role !== "service") {
      try { state.vocab = await getJson("/api/vocabulary"); } catch (e) { state.vocab = {}; } // keys are shown instead
      if (turn !== state.turn) return;
    }
    $("whoami").textContent = `${state.me.name} (${state.me.role})`;
    $("signout").hidden = false;
    for (const a of $("nav").querySelectorAll("a")) a.hidden = !a.dataset.roles.split(" ").includes(state.me.role);
    $("nav").hidden = false;
  }
  const role = state.me.role;
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  let view = parts[0];
  if (!VIEWS[view] || !ALLOWED[view].includes(role)) {
    view = Object.keys(ALLOWED).find((v) => ALLOWED[v].includes(role));
    if (!view) { showOnly("view-none"); return; }
    if (location.hash !== "#/" + view) { history.replaceState(null, "", "#/" + view); }
  }
  for (const a of $("nav").querySelectorAll("a")) a.classList.toggle("active", a.dataset.view === view || (view === "evidence" && a.dataset.view === "recipients"));
  showOnly("view-" + view);
  await VIEWS[view](parts.slice(1).map(decodeURIComponent));
}

// -- reports --------------------------------------------------------------------------------------
function reportFile(kind, format, subject, since, until) {
  const q = new URLSearchParams({ format });
  if (subject) q.set("subject", subject);
  if (since) q.set("since", since + "T00:00:00Z");
  if (until) q.set("until", until + "T00:00:00Z");
  showMessage(`Preparing the ${kind} report (${format.toUpperCase()})…` + (format === "pdf" ? " A PDF can take some seconds." : ""), "info");
  return download(`/api/reports/${kind}/download?${q}`, `lineage-${kind}.${format}`)
    .then(() => showMessage(`The ${kind} report (${format.toUpperCase()}) is downloaded.`, "info"))
    .catch((e) => { if (!(e instanceof ApiError && e.status === 401)) showMessage(`Could not make the ${kind} report: ${e.message}`); });
}

// the reports on offer come from the server's table of report kinds (the CLI's and the API's): a new kind shows here
async function showReports() {
  const out = $("reports-result");
  const offered = await getJson("/api/reports");
  const buttons = (kind, getArgs) => ["pdf", "html", "csv", "json"].map((f) =>
    el("button", { class: "secondary small", type: "button", "data-report": kind, "data-format": f, onclick: () => { const a = getArgs(); if (a) reportFile(kind, f, ...a); } }, f.toUpperCase()));
  const since = el("input", { type: "date", id: "report-since" }), until = el("input", { type: "date", id: "report-until" });
  const card = (r, getArgs) => el("div", { class: "panel", "data-kind": r.kind }, el("h3", { text: r.heading }), el("p", { class: "hint", text: r.summary }),
    el("div", { class: "row" }, buttons(r.kind, getArgs)));
  // a period of whole months is read from the aggregates at once; one that starts or ends inside a month reads that
  // part's events one by one (docs/reports.md, "Periods"): say so before the DPO waits for it
  const periodHint = el("p", { class: "hint", id: "report-period-hint", role: "note" });
  const cuts = (day) => Boolean(day) && !day.endsWith("-01");
  const explain = () => {
    periodHint.textContent = cuts(since.value) || cuts(until.value)
      ? "This period starts or ends inside a month: its reports read that part's events one by one, which on a store of years of events can take a minute. From the 1st of a month to the 1st of another they answer at once."
      : "";
  };
  since.addEventListener("change", explain);
  until.addEventListener("change", explain);
  const parts = [el("h2", { text: "Reports" }), el("div", { class: "row" }, el("label", {}, "Period from", since), el("label", {}, "until (exclusive)", until)), periodHint,
    el("div", { class: "reports-grid" }, offered.filter((r) => !r.per_person).map((r) => card(r, () => [null, since.value, until.value])))];
  const personal = offered.filter((r) => r.per_person);  // offered to the dpo role only
  if (personal.length) {
    const subject = el("input", { type: "search", id: "report-subject", size: 32, placeholder: "person's id", autocomplete: "off" });
    const need = () => { const s = subject.value.trim(); if (!s) { showMessage("Give the person's id first."); return null; } return [s]; };
    parts.push(el("h3", { text: "For one person (recorded in the audit trail)" }), el("div", { class: "row" }, el("label", {}, "Person's id", subject)),
      el("div", { class: "reports-grid" }, personal.map((r) => card(r, () => { const s = need(); return s && (r.period ? [s[0], since.value, until.value] : [s[0]]); }))));
  }
  out.replaceChildren(...parts);
}

// -- audit trail ----------------------------------------------------------------------------------
function auditQuery() {
  const q = new URLSearchParams();
  if ($("audit-subject").value.trim()) q.set("subject", $("audit-subject").value.trim());
  if ($("audit-actor").value.trim()) q.set("actor", $("audit-actor").value.trim());
  if ($("audit-action").value) q.set("action", $("audit-action").value);
  if ($("audit-since").value) q.set("since", $("audit-since").value + "T00:00:00Z");
  return q;
}

// the action filter offers every action the trail can hold (the server's one table of them), each with its words
function auditActions() {
  const select = $("audit-action");
  if (select.options.length > 1) return;
  for (const [action, what] of Object.entries(state.vocab.audit_actions || {}))
    select.append(el("option", { value: action, title: what, text: action }));
}

async function showAudit(event) {
  if (event && event.preventDefault) event.preventDefault();
  auditActions();
  const out = $("audit-result");
  out.replaceChildren(el("p", { class: "hint", text: "Loading the audit trail…" }));
  try {
    const [entries, check] = await Promise.all([getJson("/api/audit?" + auditQuery()), getJson("/api/audit/verify")]);
    out.replaceChildren(
      el("p", { class: check.ok ? "hint" : "warn", text: check.ok ? `Trail verified: ${check.entries} entries, each line's MAC and chain, and the signed head.` : `Trail does NOT verify, from entry ${check.first_broken}: ${check.problem}` }),
      el("table", { id: "audit-table" }, th("#", "When", "Actor", "Role", "Action", "Client", "Person (pseudonym)", "Returned"),
        entries.map((e) => el("tr", {},
          el("td", { class: "num", text: e.seq }), el("td", { text: when(e.at) }), el("td", { text: e.actor }), el("td", { text: e.role }),
          el("td", { text: e.action }), el("td", { text: e.client }), el("td", { class: "mono", title: e.subject || "", text: e.subject ? short(e.subject, 18) : (e.target || "") }),
          el("td", { text: Object.entries(e.returned).map(([k, v]) => `${v} ${k}`).join(", ") })))));
  } catch (e) { failed(out, e); }
}

// -- start ----------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut("Signed out."));
  $("person-form").addEventListener("submit", lookUp);
  $("alerts-form").addEventListener("submit", loadAlerts);
  for (const id of ["alert-severity", "alert-rule", "alert-status", "alert-since", "alert-until"]) $(id).addEventListener("change", () => loadAlerts());
  $("alert-auto").addEventListener("change", () => { clearInterval(state.alertTimer); if ($("alert-auto").checked) state.alertTimer = setInterval(loadAlerts, 30000); });
  $("audit-form").addEventListener("submit", showAudit);
  const exportAudit = (format) => download(`/api/audit/export?format=${format}&` + auditQuery(), "lineage-audit." + format)
    .catch((e) => { if (!(e instanceof ApiError && e.status === 401)) showMessage("Could not export: " + e.message); });
  $("audit-csv").addEventListener("click", () => exportAudit("csv"));
  $("audit-jsonl").addEventListener("click", () => exportAudit("jsonl"));
  window.addEventListener("hashchange", () => { showMessage(""); route(); });
  route();
});
