// privacy-lineage console: plain JavaScript, no framework, no build step, nothing loaded from the internet.
// The API token is kept in sessionStorage (this tab only) and sent as "Authorization: Bearer".
// A person's id is never put in the page's address (history) — only in the API request made for a lookup.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "lineage.token";
const RECIPIENT_TYPES = ["authority", "affiliate", "business_partner", "advertiser", "investor", "successor",
  "service_provider", "data_broker", "other_third_party"];
const state = { me: null, alertTimer: null, person: null, turn: 0 };

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
  return iso.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, " UTC").slice(0, 20).trim();
}
function day(iso) { return iso ? iso.slice(0, 10) : ""; }
function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
// A dotted key (user.contact.email) that may wrap after its dots, never inside a word.
function dotted(text, cls) {
  const span = el("span", { class: cls || "mono" });
  (text || "").split(".").forEach((part, i) => { if (i) span.append(".", el("wbr")); span.append(part); });
  return span;
}
function rtClass(type) { return RECIPIENT_TYPES.includes(type) ? "rt-" + type : "rt-other_third_party"; }
function swatch(type) { return el("span", { class: "swatch " + rtClass(type), title: type }); }
function chips(items) { return el("div", { class: "chips" }, items.map((x) => el("span", { text: x }))); }
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
  state.person = null;
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

const VIEWS = { person: showPerson, recipients: showRecipients, alerts: showAlerts, reports: showReports, audit: showAudit };
const ALLOWED = { person: ["dpo"], recipients: ["dpo", "auditor"], alerts: ["dpo", "auditor"], reports: ["dpo", "auditor"], audit: ["dpo"] };

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
  for (const a of $("nav").querySelectorAll("a")) a.classList.toggle("active", a.dataset.view === view);
  showOnly("view-" + view);
  await VIEWS[view](parts.slice(1).map(decodeURIComponent));
}

// -- person: who has their data, drawn ------------------------------------------------------------
async function showPerson() {
  if (state.person) renderPerson(state.person.who, state.person.alerts);
  $("subject-id").focus();
}

async function lookUp(event) {
  event.preventDefault();
  const id = $("subject-id").value.trim();
  if (!id) return;
  const out = $("person-result");
  out.replaceChildren(el("p", { class: "hint", text: "Looking up…" }));
  try {
    const path = "/api/subjects/" + encodeURIComponent(id);
    const [who, alerts] = await Promise.all([getJson(path), getJson(path + "/alerts")]);
    state.person = { who, alerts };
    renderPerson(who, alerts);
  } catch (e) { failed(out, e); }
}

// Which flows of the person the alerts mark as undeclared: an alert resting on one of the events of a disclosure
// to a recipient (or naming that recipient) marks the edge category -> recipient; an alert about a use marks the
// edge category -> purpose.
function undeclaredMarks(who, alerts) {
  const edges = new Map(); // "c|kind:target" -> [alerts]
  const nodes = new Map(); // "kind:target" -> [alerts]
  const add = (map, key, a) => { if (!map.has(key)) map.set(key, []); map.get(key).push(a); };
  for (const a of alerts) {
    let placed = false;
    for (const r of who.recipients) {
      const ids = new Set(r.event_ids);
      if (r.id === a.recipient || a.event_ids.some((e) => ids.has(e))) {
        add(nodes, "r:" + r.id, a);
        const cats = r.categories.includes(a.category) ? [a.category] : r.categories;
        for (const c of cats) add(edges, c + "|r:" + r.id, a);
        placed = true;
      }
    }
    if (!placed && a.purpose) {
      add(nodes, "p:" + a.purpose, a);
      const cats = who.categories.filter((c) => c.purposes.includes(a.purpose)).map((c) => c.category);
      for (const c of cats.includes(a.category) ? [a.category] : cats) add(edges, c + "|p:" + a.purpose, a);
      placed = true;
    }
    if (!placed) add(nodes, "c:" + a.category, a);
  }
  return { edges, nodes };
}

function renderPerson(who, alerts) {
  const out = $("person-result");
  if (!who.categories.length && !who.recipients.length) {
    out.replaceChildren(el("div", { class: "panel" }, el("p", {}, "Nothing is recorded about ", el("b", { text: who.subject }),
      ". (An unknown person is an empty answer, not an error.)")));
    return;
  }
  const marks = undeclaredMarks(who, alerts);
  const purposes = [...new Set(who.categories.flatMap((c) => c.purposes))].sort();
  const flagged = new Set([...marks.nodes.keys()]);
  const summary = el("div", { class: "panel summary" },
    el("div", {}, el("div", { class: "lbl", text: "Person" }), el("div", { class: "big", text: who.subject }),
      el("div", { class: "lbl", text: who.subject_type || "" })),
    stat(who.categories.length, "categories held"),
    stat(purposes.length, "purposes"),
    stat(who.recipients.length, "recipients"),
    el("div", {}, el("div", { class: `big${alerts.length ? " warn" : ""}`, text: alerts.length }), el("div", { class: "lbl", text: "undeclared-flow alerts" })),
    el("div", { class: "row" },
      el("button", { class: "secondary small", type: "button", onclick: () => reportFile("access", "pdf", who.subject) }, "Access report (PDF)"),
      el("button", { class: "secondary small", type: "button", onclick: () => reportFile("access", "json", who.subject) }, "Access report (JSON)"),
      el("button", { class: "secondary small", type: "button", onclick: () => reportFile("art19", "csv", who.subject) }, "Art. 19 recipients (CSV)")));
  const graphPanel = el("div", { class: "panel", id: "graph" }, el("h3", { text: "Where their data went" }), drawGraph(who, purposes, marks), legend(who));
  const timeline = el("div", { class: "panel", id: "timeline" }, el("h3", { text: "Timeline" }),
    el("p", { class: "hint", text: "From the first to the latest event of each category held and each recipient; red: a flow an alert marks as undeclared." }),
    drawTimeline(who, marks));
  const rtable = el("table", { id: "person-recipients" }, th("", "Recipient", "Type", "Country", "Categories", "Purposes", "First shared", "Last shared", "Events"),
    who.recipients.map((r) => el("tr", { class: flagged.has("r:" + r.id) ? "undeclared" : "" },
      el("td", {}, swatch(r.type)),
      el("td", {}, el("a", { href: "#/recipients/" + encodeURIComponent(r.id), text: r.name }), flagged.has("r:" + r.id) ? el("span", { class: "warn", text: " ⚠ undeclared" }) : null),
      el("td", { text: r.type }), el("td", { text: r.country || "" }), el("td", {}, chips(r.categories)), el("td", {}, chips(r.purposes)),
      el("td", { text: when(r.first_shared_at) }), el("td", { text: when(r.last_shared_at) }), el("td", { class: "num", text: r.event_ids.length }))));
  const ctable = el("table", {}, th("Category", "Roles", "Sources", "Purposes", "First seen", "Last seen", "Events"),
    who.categories.map((c) => el("tr", {},
      el("td", { class: "mono", text: c.category }), el("td", { text: c.roles.join(", ") }),
      el("td", { text: c.sources.map((s) => s.name ? `${s.name} (${s.type})` : s.type).join(", ") }), el("td", {}, chips(c.purposes)),
      el("td", { text: when(c.first_seen) }), el("td", { text: when(c.last_seen) }), el("td", { class: "num", text: c.event_count }))));
  out.replaceChildren(summary, graphPanel, timeline,
    el("h3", { text: "Recipients" }), rtable,
    alerts.length ? el("h3", { text: "Alerts concerning this person" }) : null,
    alerts.length ? el("p", { class: "hint", text: "An alert groups every event of one undeclared flow: its counts and dates are over everyone it concerns." }) : null,
    alerts.length ? alertTable(alerts, false) : null,
    el("h3", { text: "Categories" }), ctable);
}

function stat(n, label) {
  return el("div", {}, el("div", { class: "big", text: n }), el("div", { class: "lbl", text: label }));
}

function legend(who) {
  const types = [...new Set(who.recipients.map((r) => r.type))].sort();
  return el("div", { class: "legend" },
    types.map((t) => el("span", {}, swatch(t), t.replace(/_/g, " "))),
    el("span", {}, el("span", { class: "swatch undeclared-line" }), "undeclared flow (alert)"));
}

// Columns: the person | their data categories | purposes (top) and recipients (below).
function drawGraph(who, purposes, marks) {
  const W = 1080, NODE_H = 26, GAP = 8, TOP = 30;
  const col = { person: 10, cat: 250, right: 700 };
  const widths = { person: 200, cat: 300, right: 360 };
  const rightRows = purposes.length + who.recipients.length + 1; // +1: a gap row between the two groups
  const rows = Math.max(who.categories.length, rightRows, 3);
  const H = TOP + rows * (NODE_H + GAP) + 10;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "Data flow graph of the person" });
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  root.append(
    svg("text", { x: col.person, y: 14, class: "col-title", text: "PERSON" }),
    svg("text", { x: col.cat, y: 14, class: "col-title", text: "DATA CATEGORIES" }),
    svg("text", { x: col.right, y: 14, class: "col-title", text: "PURPOSES, THEN RECIPIENTS" }),
    edges, nodes);
  const yOf = (i) => TOP + i * (NODE_H + GAP);
  const pos = new Map();
  const catTop = Math.max(0, Math.floor((rows - who.categories.length) / 2));

  const node = (kind, key, x, y, w, label, title, extraClass, onclick) => {
    const flagged = marks.nodes.get(key);
    const g = svg("g", { class: `node ${kind}${flagged ? " undeclared" : ""}${extraClass ? " " + extraClass : ""}`, "data-key": key, transform: `translate(${x},${y})` });
    g.append(svg("title", { text: title + (flagged ? "\n⚠ " + flagged.map((a) => a.reason).join("\n⚠ ") : "") }));
    g.append(svg("rect", { width: w, height: NODE_H, rx: 5 }));
    let tx = 8;
    if (kind === "recipient") { g.append(svg("circle", { class: "dot", cx: 12, cy: NODE_H / 2, r: 5 })); tx = 22; }
    g.append(svg("text", { x: tx, y: NODE_H / 2 + 4, text: short(label, Math.floor((w - tx - (flagged ? 22 : 6)) / (kind === "person" ? 7.6 : 6.9))) }));
    if (flagged) g.append(svg("text", { class: "flag", x: w - 16, y: NODE_H / 2 + 5, text: "⚠" }));
    if (onclick) { g.addEventListener("click", onclick); g.setAttribute("tabindex", "0"); g.addEventListener("keydown", (e) => { if (e.key === "Enter") onclick(); }); }
    nodes.append(g);
    pos.set(key, { x, y, w });
  };
  const personY = yOf(Math.floor((rows - 1) / 2));
  node("person", "person", col.person, personY, widths.person, who.subject, `${who.subject} (${who.subject_type || "unknown type"})`);
  who.categories.forEach((c, i) => node("category", "c:" + c.category, col.cat, yOf(catTop + i), widths.cat, c.category,
    `${c.category}\n${c.event_count} event(s), ${when(c.first_seen)} – ${when(c.last_seen)}\nroles: ${c.roles.join(", ")}`));
  purposes.forEach((p, i) => node("purpose", "p:" + p, col.right, yOf(i), widths.right, p, "purpose: " + p));
  who.recipients.forEach((r, i) => node("recipient", "r:" + r.id, col.right, yOf(purposes.length + 1 + i), widths.right,
    `${r.name} · ${r.type.replace(/_/g, " ")}${r.country ? " · " + r.country : ""}`,
    `${r.name} (${r.type}${r.country ? ", " + r.country : ""})\n${r.event_ids.length} disclosure event(s)\ncategories: ${r.categories.join(", ")}\npurposes: ${r.purposes.join(", ")}\nClick for everything this recipient received.`,
    rtClass(r.type), () => { location.hash = "#/recipients/" + encodeURIComponent(r.id); }));

  const link = (from, to, cls, title) => {
    const a = pos.get(from), b = pos.get(to);
    if (!a || !b) return;
    const x1 = a.x + a.w, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
    const p = svg("path", { class: "edge " + cls, d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "data-from": from, "data-to": to });
    p.append(svg("title", { text: title }));
    edges.append(p);
  };
  for (const c of who.categories) link("person", "c:" + c.category, "holds", `holds ${c.category}`);
  for (const c of who.categories) {
    for (const p of c.purposes) {
      const bad = marks.edges.get(c.category + "|p:" + p);
      link("c:" + c.category, "p:" + p, bad ? "undeclared" : "use", bad ? "UNDECLARED: " + bad.map((a) => a.reason).join("; ") : `${c.category} used for ${p}`);
    }
  }
  for (const r of who.recipients) {
    for (const c of r.categories) {
      const bad = marks.edges.get(c + "|r:" + r.id);
      link("c:" + c, "r:" + r.id, (bad ? "undeclared " : "share ") + rtClass(r.type),
        bad ? "UNDECLARED: " + bad.map((a) => a.reason).join("; ") : `${c} disclosed to ${r.name}`);
    }
  }
  // draw undeclared edges last, so they are on top
  for (const p of [...edges.querySelectorAll("path.undeclared")]) edges.append(p);
  return root;
}

// One row per category and per recipient of the person: a bar from the first to the latest event. Rows an alert
// marks are red. (Alerts themselves span everyone they concern, so their own dates would mislead here.)
function drawTimeline(who, marks) {
  const flaggedCats = new Set([...marks.edges.keys()].map((k) => k.split("|")[0]));
  for (const k of marks.nodes.keys()) if (k.startsWith("c:")) flaggedCats.add(k.slice(2));
  const why = (key) => (marks.nodes.get(key) || []).map((a) => "\n⚠ " + a.reason).join("");
  const rows = [
    ...who.categories.map((c) => ({ label: (flaggedCats.has(c.category) ? "⚠ " : "") + c.category, from: c.first_seen, to: c.last_seen,
      cls: flaggedCats.has(c.category) ? "bar flagged-bar" : "bar bar-category", title: `${c.category}: ${c.event_count} event(s)` + why("c:" + c.category) })),
    ...who.recipients.map((r) => ({ label: (marks.nodes.has("r:" + r.id) ? "⚠ → " : "→ ") + r.name, from: r.first_shared_at, to: r.last_shared_at,
      cls: marks.nodes.has("r:" + r.id) ? "bar flagged-bar" : "bar " + rtClass(r.type), title: `${r.name}: ${r.event_ids.length} disclosure(s)` + why("r:" + r.id) })),
  ];
  const times = rows.flatMap((r) => [Date.parse(r.from), Date.parse(r.to)]);
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 - t0 < 86400000) { t0 -= 43200000; t1 += 43200000; }
  const W = 1080, LEFT = 290, RIGHT = 20, ROW = 18, TOP = 24;
  const H = TOP + rows.length * ROW + 8;
  const x = (t) => LEFT + (Date.parse(t) - t0) / (t1 - t0) * (W - LEFT - RIGHT);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "Timeline of the person's data" });
  const axis = svg("g", { class: "axis" });
  for (let i = 0; i <= 6; i++) {
    const t = t0 + (t1 - t0) * i / 6, xx = LEFT + (W - LEFT - RIGHT) * i / 6;
    axis.append(svg("line", { x1: xx, y1: TOP - 6, x2: xx, y2: H }), svg("text", { x: xx, y: 12, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle", text: new Date(t).toISOString().slice(0, 10) }));
  }
  root.append(axis);
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const a = x(r.from), b = Math.max(x(r.to), a + 4);
    root.append(svg("text", { class: "row-label", x: LEFT - 8, y: y + 12, "text-anchor": "end", text: short(r.label, 44) }));
    const bar = svg("rect", { class: r.cls, x: a, y: y + 3, width: b - a, height: ROW - 6, rx: 3 });
    bar.append(svg("title", { text: `${r.title}\n${when(r.from)} – ${when(r.to)}` }));
    root.append(bar);
  });
  return root;
}

// -- recipients -----------------------------------------------------------------------------------
async function showRecipients(args) {
  const out = $("recipients-result");
  out.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  try {
    if (args[0]) await renderRecipient(out, args[0]);
    else await renderRecipientList(out);
  } catch (e) { failed(out, e); }
}

async function renderRecipientList(out) {
  const list = await getJson("/api/recipients");
  out.replaceChildren(el("h2", { text: "Recipients of personal data" }),
    el("table", { id: "recipient-list" }, th("", "Recipient", "Type", "Country", "Categories", "Purposes", "Share events", "People (at least)", "First", "Last"),
      list.map((s) => el("tr", {},
        el("td", {}, swatch(s.recipient.type)),
        el("td", {}, el("a", { href: "#/recipients/" + encodeURIComponent(s.recipient.id), text: s.recipient.name })),
        el("td", { text: s.recipient.type }), el("td", { text: s.recipient.country || "" }),
        el("td", { class: "num", text: s.categories.length }), el("td", { class: "num", text: s.purposes.length }),
        el("td", { class: "num", text: s.events }), el("td", { class: "num", text: s.people }),
        el("td", { text: day(s.first_seen) }), el("td", { text: day(s.last_seen) })))));
}

async function renderRecipient(out, id) {
  const [view, alerts] = await Promise.all([getJson("/api/recipients/" + encodeURIComponent(id)), getJson("/api/alerts")]);
  const r = view.recipient;
  const mine = alerts.filter((a) => a.recipient === r.id);
  out.replaceChildren(
    el("p", {}, el("a", { href: "#/recipients", text: "← all recipients" })),
    el("div", { class: "panel", id: "recipient-view" },
      el("h2", {}, swatch(r.type), " ", r.name),
      el("p", {}, `${r.type.replace(/_/g, " ")}${r.country ? " · " + r.country : ""}${r.contact ? " · " + r.contact : ""} · id `, el("code", { text: r.id })),
      el("div", { class: "summary" }, stat(view.events, "share events" + (view.evidence_capped ? " (capped)" : "")), stat(view.people, "people (at least)"),
        stat(view.categories.length, "categories"), stat(view.purposes.length, "purposes"),
        el("div", {}, el("div", { class: `big${mine.length ? " warn" : ""}`, text: mine.length }), el("div", { class: "lbl", text: "alerts" })),
        el("div", {}, el("div", { class: "lbl", text: "from" }), el("div", { text: `${when(view.first_seen)} to ${when(view.last_seen)}` })),
        el("div", {}, el("div", { class: "lbl", text: "whose data" }), el("div", { text: view.subject_types.join(", ") })))),
    el("h3", { text: "What it received, and for what" }),
    el("table", {}, th("Category", "Purpose", "SOS role", "Whose data", "People", "Events", "First", "Last"),
      view.flows.map((f) => {
        const bad = mine.some((a) => a.category === f.category && (!a.purpose || a.purpose === f.purpose));
        return el("tr", { class: bad ? "undeclared" : "" },
          el("td", {}, dotted(f.category)), el("td", {}, dotted(f.purpose, ""), bad ? el("span", { class: "warn", text: " ⚠" }) : null),
          el("td", { text: f.role }), el("td", { text: f.subject_type }),
          el("td", { class: "num", text: f.subjects }), el("td", { class: "num", text: f.events }),
          el("td", { text: when(f.first_seen) }), el("td", { text: when(f.last_seen) }));
      })),
    mine.length ? el("h3", { text: "Alerts about this recipient" }) : null, mine.length ? alertTable(mine, false) : null,
    el("details", {}, el("summary", { text: `Event ids (${view.event_ids.length})` }), el("div", { class: "ids" }, view.event_ids.map((e) => el("div", { text: e })))));
}

// -- alerts ---------------------------------------------------------------------------------------
async function showAlerts() {
  await loadAlerts();
  if ($("alert-auto").checked) state.alertTimer = setInterval(loadAlerts, 30000);
}

async function loadAlerts(event) {
  if (event) event.preventDefault();
  const out = $("alerts-result");
  const q = new URLSearchParams();
  if ($("alert-status").value) q.set("status", $("alert-status").value);
  if ($("alert-rule").value.trim()) q.set("rule", $("alert-rule").value.trim());
  if ($("alert-since").value) q.set("since", $("alert-since").value + "T00:00:00Z");
  try {
    const alerts = await getJson("/api/alerts?" + q);
    out.replaceChildren(el("p", { class: "hint", text: `${alerts.length} alert(s), newest first · updated ${new Date().toLocaleTimeString()}` }),
      alertTable(alerts, state.me && state.me.role === "dpo"));
  } catch (e) { failed(out, e); }
}

// Two rows per alert: what (rule, category, purpose, recipient, counts, status) and why (the reason, the clause).
function alertTable(alerts, canAck) {
  return el("table", { class: "alerts" }, th("Severity", "Rule", "Category", "Purpose", "Recipient", "Events", "People", "Last seen", "Status", ""),
    alerts.map((a) => [
      el("tr", { "data-alert": a.alert_id, class: "what" },
        el("td", { class: "sev-" + a.severity, text: a.severity }),
        el("td", { class: "mono", text: a.rule }),
        el("td", {}, dotted(a.category)),
        el("td", {}, dotted(a.purpose)),
        el("td", {}, a.recipient ? el("a", { href: "#/recipients/" + encodeURIComponent(a.recipient), text: a.recipient }) : "", a.recipient_type ? el("div", { class: "hint", text: a.recipient_type }) : null),
        el("td", { class: "num", text: a.count }),
        el("td", { class: "num", text: a.subjects.length }),
        el("td", { class: "nowrap", text: when(a.last_seen) }),
        el("td", { class: "status-" + a.status, text: a.status }),
        el("td", {}, canAck && a.status === "open" ? el("button", { class: "small ack", type: "button", onclick: (e) => acknowledge(a.alert_id, e.target) }, "Acknowledge") : null)),
      el("tr", { class: "why" }, el("td", {}), el("td", { colspan: 9 }, a.reason, a.clause_section ? el("span", { class: "hint", text: "  · policy section: " + a.clause_section }) : null)),
    ]));
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    await api("/api/alerts/" + encodeURIComponent(id) + "/ack", { method: "POST" });
    showMessage(`Alert ${id} acknowledged.`, "info");
    await loadAlerts();
  } catch (e) { button.disabled = false; if (!(e instanceof ApiError && e.status === 401)) showMessage("Could not acknowledge: " + e.message); }
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

const REPORTS = [
  { kind: "ropa", title: "Record of processing (GDPR Art. 30)", text: "Declared processing activities with what was observed." },
  { kind: "ccpa", title: "CCPA disclosures", text: "Categories collected, sold or shared, and disclosed for a business purpose (default: the preceding 12 months)." },
  { kind: "gaps", title: "Declared vs observed", text: "Undeclared flows and declarations never exercised." },
];

function showReports() {
  const out = $("reports-result");
  const buttons = (kind, getArgs) => ["pdf", "html", "csv", "json"].map((f) =>
    el("button", { class: "secondary small", type: "button", "data-report": kind, "data-format": f, onclick: () => { const a = getArgs(); if (a) reportFile(kind, f, ...a); } }, f.toUpperCase()));
  const since = el("input", { type: "date", id: "report-since" }), until = el("input", { type: "date", id: "report-until" });
  const cards = REPORTS.map((r) => el("div", { class: "panel" }, el("h3", { text: r.title }), el("p", { class: "hint", text: r.text }),
    el("div", { class: "row" }, buttons(r.kind, () => [null, since.value, until.value]))));
  const parts = [el("h2", { text: "Reports" }), el("div", { class: "row" }, el("label", {}, "Period from", since), el("label", {}, "until (exclusive)", until)),
    el("div", { class: "reports-grid" }, cards)];
  if (state.me.role === "dpo") {
    const subject = el("input", { type: "search", id: "report-subject", size: 32, placeholder: "person's id", autocomplete: "off" });
    const need = () => { const s = subject.value.trim(); if (!s) { showMessage("Give the person's id first."); return null; } return [s]; };
    parts.push(el("h3", { text: "For one person (recorded in the audit trail)" }), el("div", { class: "row" }, el("label", {}, "Person's id", subject)),
      el("div", { class: "reports-grid" },
        el("div", { class: "panel" }, el("h3", { text: "Access report (GDPR Art. 15 / CCPA right to know)" }), el("div", { class: "row" }, buttons("access", () => { const s = need(); return s && [s[0], since.value, until.value]; }))),
        el("div", { class: "panel" }, el("h3", { text: "Recipients to notify (GDPR Art. 19)" }), el("div", { class: "row" }, buttons("art19", need)))));
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

async function showAudit(event) {
  if (event && event.preventDefault) event.preventDefault();
  const out = $("audit-result");
  try {
    const [entries, check] = await Promise.all([getJson("/api/audit?" + auditQuery()), getJson("/api/audit/verify")]);
    out.replaceChildren(
      el("p", { class: check.ok ? "hint" : "warn", text: check.ok ? `Hash chain intact (${check.entries} entries).` : `Hash chain BROKEN at entry ${check.first_broken}: the trail was edited.` }),
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
  $("alert-auto").addEventListener("change", () => { clearInterval(state.alertTimer); if ($("alert-auto").checked) state.alertTimer = setInterval(loadAlerts, 30000); });
  $("audit-form").addEventListener("submit", showAudit);
  const exportAudit = (format) => download(`/api/audit/export?format=${format}&` + auditQuery(), "lineage-audit." + format)
    .catch((e) => { if (!(e instanceof ApiError && e.status === 401)) showMessage("Could not export: " + e.message); });
  $("audit-csv").addEventListener("click", () => exportAudit("csv"));
  $("audit-jsonl").addEventListener("click", () => exportAudit("jsonl"));
  window.addEventListener("hashchange", () => { showMessage(""); route(); });
  route();
});
