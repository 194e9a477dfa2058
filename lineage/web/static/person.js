// privacy-lineage console, the person page: who has this person's data, for what, declared or not — drawn.
// Columns person -> data categories -> purposes -> recipients; declared flows faded, undeclared ones prominent;
// hovering or focusing a node highlights its paths; filters narrow the graph, the timeline and the tables.
"use strict";

async function showPerson() {
  if (state.person) renderPerson();
  $("subject-id").focus();
}

async function lookUp(event) {
  event.preventDefault();
  const id = $("subject-id").value.trim();
  if (!id) return;
  const out = $("person-result");
  out.replaceChildren(el("p", { class: "hint", role: "status", text: "Looking up…" }));
  try {
    const path = "/api/subjects/" + encodeURIComponent(id);
    const [who, alerts, notices] = await Promise.all([getJson(path), getJson(path + "/alerts"), getJson(path + "/notices")]);
    state.person = { who, alerts, notices, askAck: null, filters: { undeclared: false, type: "", since: "", until: "" } };
    renderPerson();
  } catch (e) { failed(out, e); }
}

// -- the person's flows, and which of them the alerts mark as undeclared -------------------------------------
// A flow: a use (category -> purpose) or a disclosure (category -> purpose -> recipient), with its own span.
function personFlows(who, alerts) {
  // a use counts every event that used the data for the purpose, disclosures included: a use with no more events
  // than the disclosures of the same data for the same purpose is those disclosures, and is not drawn twice
  const shared = new Map();
  for (const f of who.flows || []) if (f.recipient) shared.set(f.category + "|" + f.purpose, (shared.get(f.category + "|" + f.purpose) || 0) + f.events);
  const flows = (who.flows || []).filter((f) => f.recipient || f.events > (shared.get(f.category + "|" + f.purpose) || 0))
    .map((f) => Object.assign({ alerts: [] }, f));
  const find = (c, p, r) => flows.filter((f) => f.category === c && f.purpose === p && (f.recipient || "") === (r || ""));
  const loose = []; // alerts about a category only (an undeclared category or source): no flow to mark
  for (const a of alerts) {
    const hit = a.purpose ? find(a.category, a.purpose, a.recipient) : [];
    if (hit.length) hit.forEach((f) => f.alerts.push(a)); else loose.push(a);
  }
  return { flows, loose };
}

function flowKey(f) { return `${f.category}|${f.purpose}|${f.recipient || ""}`; }

function applyFilters(who, model, filters) {
  const t0 = filters.since ? Date.parse(filters.since + "T00:00:00Z") : -Infinity;
  const t1 = filters.until ? Date.parse(filters.until + "T00:00:00Z") + 86400000 : Infinity; // the day included
  const recipients = new Map(who.recipients.map((r) => [r.id, r]));
  const flows = model.flows.filter((f) => {
    if (filters.undeclared && !f.alerts.length) return false;
    if (filters.type && (!f.recipient || (recipients.get(f.recipient) || {}).type !== filters.type)) return false;
    return Date.parse(f.last_seen) >= t0 && Date.parse(f.first_seen) < t1;
  });
  const cats = new Set(flows.map((f) => f.category));
  if (!filters.undeclared && !filters.type) {
    for (const c of who.categories) if (Date.parse(c.last_seen) >= t0 && Date.parse(c.first_seen) < t1) cats.add(c.category);
  }
  if (!filters.type) for (const a of model.loose) cats.add(a.category); // undeclared categories or sources
  return { flows, categories: who.categories.filter((c) => cats.has(c.category)) };
}

// -- the page -------------------------------------------------------------------------------------------------
function renderPerson() {
  const { who, alerts, notices, filters } = state.person;
  const out = $("person-result");
  if (!who.categories.length && !who.recipients.length) {
    out.replaceChildren(...[el("div", { class: "panel" }, el("p", {}, "Nothing is recorded about ", el("b", { text: who.subject }),
      notices.length ? ". Their erasure deleted what was; the recipients it had reached are to be told, below." : ". (An unknown person is an empty answer, not an error.)")),
      noticesPanel(who.subject, notices)].filter(Boolean));
    return;
  }
  const model = personFlows(who, alerts);
  const shown = applyFilters(who, model, filters);
  // the tables follow the filters too: a recipient when one of the flows shown reaches it
  const filtering = Boolean(filters.undeclared || filters.type || filters.since || filters.until);
  const reached = new Set(shown.flows.map((f) => f.recipient).filter(Boolean));
  const recipientsShown = filtering ? who.recipients.filter((r) => reached.has(r.id)) : who.recipients;
  const purposes = new Set(model.flows.map((f) => f.purpose));
  const theirs = alerts.reduce((n, a) => n + a.person_events, 0);
  const openAlerts = alerts.filter((a) => a.status === "open").length;
  const summary = el("div", { class: "panel summary", id: "person-summary" },
    el("div", { class: "who" }, el("div", { class: "lbl", text: "Person" }), el("div", { class: "big person-id", text: who.subject }),
      el("div", { class: "lbl", text: label("subjects", who.subject_type) || "type not recorded" })),
    stat(who.categories.length, "categories of data"),
    stat(purposes.size, "purposes"),
    stat(who.recipients.length, "recipients"),
    el("div", { id: "person-alert-count" }, el("div", { class: `big${alerts.length ? " warn" : ""}`, text: alerts.length }),
      el("div", { class: "lbl", text: alerts.length ? `alerts on their data (${openAlerts} open), ${theirs} of this person's events` : "alerts on their data" })),
    el("div", { class: "row actions" },
      el("button", { class: "secondary small", type: "button", onclick: () => reportFile("access", "pdf", who.subject) }, "Access letter (PDF)"),
      el("button", { class: "secondary small", type: "button", onclick: () => reportFile("access", "json", who.subject) }, "Access report (JSON)"),
      el("button", { class: "secondary small", type: "button", onclick: () => reportFile("art19", "csv", who.subject) }, "Art. 19 recipients (CSV)")));
  const graphPanel = el("div", { class: "panel", id: "graph" },
    el("h3", { text: "Where their data went" }), legend(who), drawGraph(who, shown, model.loose, out.clientWidth || 1200));
  const timeline = el("div", { class: "panel", id: "timeline" }, el("h3", { text: "Timeline, one row per flow" }),
    el("p", { class: "hint", text: "From the first to the latest event of each use and disclosure of this person's data. Red: a flow an alert marks as undeclared; faded: declared uses; disclosures in their recipient's colour." }),
    drawTimeline(who, shown.flows, out.clientWidth || 1200));
  out.replaceChildren(...[summary, optOutPanel(who, model), noticesPanel(who.subject, notices)].filter(Boolean), filterBar(who), graphPanel, timeline,
    el("h3", { text: filtering ? `Recipients (${recipientsShown.length} of ${who.recipients.length}, by the filters)` : "Recipients" }),
    recipientTable(who, model, recipientsShown),
    alerts.length ? el("h3", { text: "Alerts concerning this person" }) : null,
    alerts.length ? el("p", { class: "hint", text: "Each alert groups every event of one flow a rule flags (undeclared, a sale or sharing after an opt-out, a transfer without safeguard…); “this person” counts their own events in it." }) : null,
    alerts.length ? personAlertTable(alerts) : null,
    el("h3", { text: filtering ? `Categories of their data (${shown.categories.length} of ${who.categories.length}, by the filters)` : "Categories of their data" }),
    categoryTable(shown.categories));
}

// The person's opt-outs in words, and what was sold or shared after one (the sale-after-opt-out alerts' flows,
// flagged in the graph, the timeline and the recipients like undeclared ones)
const SALE_RULE = "sale-after-opt-out";
function optOutPanel(who, model) {
  const outs = who.opt_outs || [];
  const sold = model.flows.filter((f) => f.alerts.some((a) => a.rule === SALE_RULE));
  const name = (id) => (who.recipients.find((r) => r.id === id) || { name: id }).name;
  return el("div", { class: "panel", id: "person-opt-outs" },
    el("h3", { text: "Opt-outs" }),
    outs.length ? el("ul", { class: "opt-outs" }, outs.map((o) => el("li", { "data-scope": o.scope, "data-signal": o.signal, text: o.statement })))
      : el("p", { class: "hint", text: "No opt-out of marketing or of sale and sharing is recorded." }),
    sold.length ? el("p", { class: "warn", id: "sold-after-opt-out" },
      `⚠ Sold or shared after the person opted out: ${sold.length} flow(s), to ${[...new Set(sold.map((f) => name(f.recipient)))].join(", ")} (flagged below; see the alerts).`) : null);
}

// what an alert on a flow says it is, for a flag: a sale or sharing after an opt-out, or an undeclared flow
function flagWords(alerts) {
  return alerts.some((a) => a.rule === SALE_RULE) ? "sold or shared after opt-out" : "undeclared";
}

function stat(n, text) {
  return el("div", {}, el("div", { class: "big", text: n }), el("div", { class: "lbl", text }));
}

function filterBar(who) {
  const f = state.person.filters;
  const redraw = () => renderPerson();
  const types = [...new Set(who.recipients.map((r) => r.type))].sort();
  const only = el("input", { type: "checkbox", id: "filter-undeclared", checked: f.undeclared || null,
    onchange: (e) => { f.undeclared = e.target.checked; redraw(); } });
  const type = el("select", { id: "filter-type", onchange: (e) => { f.type = e.target.value; redraw(); } },
    el("option", { value: "", text: "all recipients and uses" }),
    types.map((t) => el("option", { value: t, selected: f.type === t || null, text: label("recipient_types", t) })));
  const since = el("input", { type: "date", id: "filter-since", value: f.since, onchange: (e) => { f.since = e.target.value; redraw(); } });
  const until = el("input", { type: "date", id: "filter-until", value: f.until, onchange: (e) => { f.until = e.target.value; redraw(); } });
  const active = f.undeclared || f.type || f.since || f.until;
  return el("form", { class: "row filters", id: "person-filters", role: "search", "aria-label": "Filter the person's flows", onsubmit: (e) => e.preventDefault() },
    el("label", { class: "check" }, only, "Undeclared flows only"),
    el("label", {}, "Recipient type", type),
    el("label", {}, "From", since), el("label", {}, "to (inclusive)", until),
    active ? el("button", { type: "button", class: "secondary small", onclick: () => { Object.assign(f, { undeclared: false, type: "", since: "", until: "" }); redraw(); } }, "Clear filters") : null);
}

function legend(who) {
  const types = [...new Set(who.recipients.map((r) => r.type))].sort();
  return el("div", { class: "legend" },
    types.map((t) => el("span", {}, swatch(t), label("recipient_types", t))),
    el("span", {}, el("span", { class: "swatch declared-line" }), "declared flow"),
    el("span", {}, el("span", { class: "swatch undeclared-line" }), "flagged flow (an alert: undeclared, or sold or shared after an opt-out)"),
    el("span", { class: "hint" }, "Hover or focus (Tab) a box to follow its paths; Enter on a recipient opens it."));
}

// -- the graph ------------------------------------------------------------------------------------------------
// Node order: categories by name; each purpose and recipient at the mean row of what feeds it (fewer crossings).
function order(items, weight) {
  return items.map((x, i) => ({ x, w: weight(x), i })).sort((a, b) => a.w - b.w || a.i - b.i).map((o) => o.x);
}

function wrapText(text, perLine) {
  // the person's id in whole, on as many lines as it needs, broken after "@", "." or "-" when possible
  const lines = [];
  let rest = text;
  while (rest.length > perLine) {
    let cut = Math.max(rest.lastIndexOf("@", perLine), rest.lastIndexOf(".", perLine), rest.lastIndexOf("-", perLine));
    cut = cut > perLine / 3 ? cut + 1 : perLine;
    lines.push(rest.slice(0, cut)); rest = rest.slice(cut);
  }
  lines.push(rest);
  return lines;
}

function drawGraph(who, shown, loose, width) {
  const W = Math.max(960, width - 30), NODE_H = 36, TOP = 34, PAD = 10;
  const colW = { person: Math.round(W * 0.15), cat: Math.round(W * 0.22), purpose: Math.round(W * 0.22), recipient: Math.round(W * 0.22) };
  const gap = (W - colW.person - colW.cat - colW.purpose - colW.recipient - 2 * PAD) / 3;
  const colX = { person: PAD };
  colX.cat = colX.person + colW.person + gap; colX.purpose = colX.cat + colW.cat + gap; colX.recipient = colX.purpose + colW.purpose + gap;

  const cats = [...shown.categories].sort((a, b) => label("categories", a.category).localeCompare(label("categories", b.category)));
  const catRow = new Map(cats.map((c, i) => [c.category, i]));
  const purposeKeys = [...new Set(shown.flows.map((f) => f.purpose))];
  const mean = (xs) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
  const purposes = order(purposeKeys, (p) => mean(shown.flows.filter((f) => f.purpose === p).map((f) => catRow.get(f.category) || 0)));
  const purposeRow = new Map(purposes.map((p, i) => [p, i]));
  const recipientIds = [...new Set(shown.flows.filter((f) => f.recipient).map((f) => f.recipient))];
  const recipients = order(recipientIds, (r) => mean(shown.flows.filter((f) => f.recipient === r).map((f) => purposeRow.get(f.purpose) || 0)))
    .map((id) => who.recipients.find((r) => r.id === id)).filter(Boolean);

  const personLines = wrapText(who.subject, Math.max(12, Math.floor((colW.person - 16) / 8.2)));
  const rows = Math.max(cats.length, purposes.length, recipients.length, 2);
  const H = TOP + rows * (NODE_H + 10) + 10;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", height: H, role: "group", "aria-label": "Where the person's data went: person, data categories, purposes, recipients" });
  const edges = svg("g", { class: "edges" }), nodes = svg("g", { class: "nodes" });
  root.append(
    svg("text", { x: colX.person, y: 14, class: "col-title", text: "PERSON" }),
    svg("text", { x: colX.cat, y: 14, class: "col-title", text: "DATA CATEGORIES" }),
    svg("text", { x: colX.purpose, y: 14, class: "col-title", text: "PURPOSES" }),
    svg("text", { x: colX.recipient, y: 14, class: "col-title", text: "RECIPIENTS" }),
    edges, nodes);
  // each column spreads its nodes over the same height, so every column uses the whole drawing
  const yOf = (i, n) => TOP + (n <= 1 ? (H - TOP - NODE_H) / 2 : i * (H - TOP - NODE_H - 10) / (n - 1));
  const pos = new Map();
  const links = []; // [from, to, path element]

  const node = (kind, key, x, y, w, h, lines, small, title, extra, onclick) => {
    const g = svg("g", { class: `node ${kind}${extra ? " " + extra : ""}`, "data-key": key, transform: `translate(${x},${y})`,
      tabindex: "0", role: onclick ? "link" : "img", "aria-label": title.replace(/\n/g, ". ") });
    g.append(svg("title", { text: title }), svg("rect", { width: w, height: h, rx: 5 }));
    let tx = 8;
    if (kind === "recipient") { g.append(svg("circle", { class: "dot", cx: 12, cy: 13, r: 5 })); tx = 22; }
    const chars = Math.floor((w - tx - 18) / 6.9);
    lines.forEach((line, i) => g.append(svg("text", { class: "label", x: tx, y: 15 + i * 14, text: kind === "person" ? line : short(line, chars) })));
    if (small) g.append(svg("text", { class: "small", x: tx, y: h - 6, text: short(small, Math.floor((w - tx - 8) / 6.1)) }));
    if (extra && extra.includes("undeclared")) g.append(svg("text", { class: "flag", x: w - 15, y: 16, text: "⚠" }));
    g.addEventListener("mouseenter", () => highlight(root, key));
    g.addEventListener("mouseleave", () => highlight(root, null));
    g.addEventListener("focus", () => highlight(root, key));
    g.addEventListener("blur", () => highlight(root, null));
    if (onclick) { g.addEventListener("click", onclick); g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onclick(); } }); }
    nodes.append(g);
    pos.set(key, { x, y, w, h });
  };
  const link = (from, to, bad, title, keys) => {
    const a = pos.get(from), b = pos.get(to);
    if (!a || !b) return;
    const x1 = a.x + a.w, y1 = a.y + Math.min(a.h, NODE_H) / 2, x2 = b.x, y2 = b.y + Math.min(b.h, NODE_H) / 2, mx = (x1 + x2) / 2;
    const p = svg("path", { class: "edge " + (bad ? "undeclared" : "declared"), d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "data-from": from, "data-to": to });
    p.append(svg("title", { text: title }));
    edges.append(p);
    links.push([p, new Set(keys)]);
  };

  const flagged = (fs) => fs.some((f) => f.alerts.length);
  const why = (fs) => [...new Set(fs.flatMap((f) => f.alerts.map((a) => a.reason)))].map((r) => "\n⚠ " + r).join("");
  const personH = Math.max(NODE_H, 10 + personLines.length * 14 + 14);
  node("person", "person", colX.person, Math.max(TOP, yOf(0, 1) - (personH - NODE_H) / 2), colW.person, personH, personLines,
    label("subjects", who.subject_type) || "", `${who.subject} (${label("subjects", who.subject_type) || "type not recorded"})`);
  cats.forEach((c, i) => {
    const mine = shown.flows.filter((f) => f.category === c.category);
    const lost = loose.filter((a) => a.category === c.category);
    const bad = flagged(mine) || lost.length > 0;
    node("category", "c:" + c.category, colX.cat, yOf(i, cats.length), colW.cat, NODE_H, [label("categories", c.category)], c.category,
      `${label("categories", c.category)} (${c.category})\n${c.event_count} event(s), ${when(c.first_seen)} – ${when(c.last_seen)}` +
      why(mine) + lost.map((a) => "\n⚠ " + a.reason).join(""), bad ? "undeclared" : "");
  });
  purposes.forEach((p, i) => {
    const mine = shown.flows.filter((f) => f.purpose === p);
    node("purpose", "p:" + p, colX.purpose, yOf(i, purposes.length), colW.purpose, NODE_H, [label("purposes", p)], p,
      `${label("purposes", p)} (${p})` + why(mine), flagged(mine) ? "undeclared" : "");
  });
  recipients.forEach((r, i) => {
    const mine = shown.flows.filter((f) => f.recipient === r.id);
    node("recipient", "r:" + r.id, colX.recipient, yOf(i, recipients.length), colW.recipient, NODE_H, [r.name],
      `${label("recipient_types", r.type)}${r.country ? " · " + r.country : ""}`,
      `${r.name} (${label("recipient_types", r.type)}${r.country ? ", " + r.country : ""})\n${r.event_ids.length} disclosure(s) of this person's data` +
      why(mine) + "\nEnter or click: everything this recipient received.",
      rtClass(r.type) + (flagged(mine) ? " undeclared" : ""), () => { location.hash = "#/recipients/" + encodeURIComponent(r.id); });
  });

  // each edge and node knows the flows through it, so that lighting a node lights exactly its flows' paths
  const through = new Map([["person", new Set(["c:*"])]]);
  const add = (key, fk) => { if (!through.has(key)) through.set(key, new Set()); through.get(key).add(fk); };
  for (const c of cats) { add("c:" + c.category, "c:" + c.category); add("person", "c:" + c.category); }
  for (const f of shown.flows) {
    for (const key of ["person", "c:" + f.category, "p:" + f.purpose, f.recipient ? "r:" + f.recipient : null]) if (key) add(key, flowKey(f));
  }
  for (const c of cats) {
    link("person", "c:" + c.category, false, `holds ${label("categories", c.category)}`,
      ["c:" + c.category, ...shown.flows.filter((f) => f.category === c.category).map(flowKey)]);
  }
  const group = (keyOf) => { const m = new Map(); for (const f of shown.flows) { const k = keyOf(f); if (!m.has(k)) m.set(k, []); m.get(k).push(f); } return m; };
  for (const [k, fs] of group((f) => f.category + "|" + f.purpose)) {
    const [c, p] = k.split("|");
    link("c:" + c, "p:" + p, flagged(fs), `${label("categories", c)} used or disclosed for ${label("purposes", p)}` + (flagged(fs) ? "\n" + flagWords(fs.flatMap((f) => f.alerts)).toUpperCase() + why(fs) : ""), fs.map(flowKey));
  }
  for (const [k, fs] of group((f) => f.recipient ? f.purpose + "|" + f.recipient : "")) {
    if (!k) continue;
    const [p, r] = k.split("|");
    link("p:" + p, "r:" + r, flagged(fs), `disclosed for ${label("purposes", p)} to ${(who.recipients.find((x) => x.id === r) || {}).name || r}` + (flagged(fs) ? "\n" + flagWords(fs.flatMap((f) => f.alerts)).toUpperCase() + why(fs) : ""), fs.map(flowKey));
  }
  for (const p of [...edges.querySelectorAll("path.undeclared")]) edges.append(p); // undeclared on top
  root.links = links;
  root.through = through;
  return root;
}

// Highlight the paths of every flow through a node: where its data came from and where it went, and nothing else.
function highlight(root, key) {
  root.classList.toggle("dimmed", Boolean(key));
  for (const x of root.querySelectorAll(".hl")) x.classList.remove("hl");
  if (!key) return;
  const lit = root.through.get(key) || new Set();
  const any = (keys) => key === "person" || [...keys].some((k) => lit.has(k));
  for (const [path, keys] of root.links) if (any(keys)) path.classList.add("hl");
  for (const [k, keys] of root.through) {
    if (k !== key && k !== "person" && !any(keys)) continue;
    const n = root.querySelector(`g.node[data-key="${CSS.escape(k)}"]`);
    if (n) n.classList.add("hl");
  }
}

// -- the timeline: one row per flow, coloured by that flow ----------------------------------------------------
function drawTimeline(who, flows, width) {
  if (!flows.length) return el("p", { class: "hint", text: "No flow in the filters' range." });
  const name = (id) => (who.recipients.find((r) => r.id === id) || { name: id }).name;
  const type = (id) => (who.recipients.find((r) => r.id === id) || {}).type;
  const rows = [...flows].sort((a, b) => label("categories", a.category).localeCompare(label("categories", b.category)) ||
    label("purposes", a.purpose).localeCompare(label("purposes", b.purpose)) || (a.recipient || "").localeCompare(b.recipient || ""))
    .map((f) => ({ f, text: `${label("categories", f.category)} → ${label("purposes", f.purpose)}` + (f.recipient ? ` → ${name(f.recipient)}` : ""),
      cls: f.alerts.length ? "bar flagged-bar" : f.recipient ? "bar share " + rtClass(type(f.recipient)) : "bar use" }));
  const times = flows.flatMap((f) => [Date.parse(f.first_seen), Date.parse(f.last_seen)]);
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 - t0 < 86400000) { t0 -= 43200000; t1 += 43200000; }
  const W = Math.max(900, width - 30), LEFT = Math.round(Math.min(W * 0.42, 620)), RIGHT = 16, ROW = 17, TOP = 22;
  const FONT = '11.5px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
  const H = TOP + rows.length * ROW + 6;
  const x = (t) => LEFT + (Date.parse(t) - t0) / (t1 - t0) * (W - LEFT - RIGHT);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": `Timeline of ${rows.length} flows of the person's data` });
  const axis = svg("g", { class: "axis" });
  const ticks = Math.max(1, Math.min(6, Math.floor((W - LEFT - RIGHT) / 110))); // dates 110 px apart at least: none overlap
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + (t1 - t0) * i / ticks, xx = LEFT + (W - LEFT - RIGHT) * i / ticks;
    axis.append(svg("line", { x1: xx, y1: TOP - 6, x2: xx, y2: H }), svg("text", { x: xx, y: 12, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle", text: new Date(t).toISOString().slice(0, 10) }));
  }
  root.append(axis);
  rows.forEach((r, i) => {
    const y = TOP + i * ROW, a = x(r.f.first_seen), b = Math.max(x(r.f.last_seen), a + 4);
    const bad = r.f.alerts.length > 0;
    root.append(svg("text", { class: "row-label" + (bad ? " bad" : ""), x: LEFT - 8, y: y + 12, "text-anchor": "end", text: fitText((bad ? "⚠ " : "") + r.text, LEFT - 14, (bad ? "600 " : "") + FONT) }));
    const bar = svg("rect", { class: r.cls, x: a, y: y + 3, width: b - a, height: ROW - 6, rx: 3, "data-flow": flowKey(r.f) });
    bar.append(svg("title", { text: `${r.text}\n${r.f.events} event(s), ${when(r.f.first_seen)} – ${when(r.f.last_seen)}` + r.f.alerts.map((al) => "\n⚠ " + al.reason).join("") }));
    root.append(bar);
  });
  return root;
}

// -- the tables -----------------------------------------------------------------------------------------------
function recipientTable(who, model, recipients) {
  const bad = new Map();  // recipient -> the alerts on its flows
  for (const f of model.flows) if (f.recipient && f.alerts.length) bad.set(f.recipient, (bad.get(f.recipient) || []).concat(f.alerts));
  return el("table", { id: "person-recipients" }, th("", "Recipient", "Type", "Country", "Received", "For", "First shared", "Last shared", "Events"),
    recipients.map((r) => el("tr", { class: bad.has(r.id) ? "undeclared" : "", "data-recipient": r.id },
      el("td", {}, swatch(r.type)),
      el("td", {}, el("a", { href: "#/recipients/" + encodeURIComponent(r.id), text: r.name }),
        bad.has(r.id) ? el("span", { class: "warn flag", text: " ⚠ " + flagWords(bad.get(r.id)) }) : null),
      el("td", { text: label("recipient_types", r.type) }), el("td", { text: r.country || "" }),
      el("td", {}, named("categories", r.categories)), el("td", {}, named("purposes", r.purposes)),
      whenCell(r.first_shared_at), whenCell(r.last_shared_at), el("td", { class: "num", text: r.event_ids.length }))));
}

function categoryTable(categories) {
  return el("table", { id: "person-categories" }, th("Category", "SOS's role", "Where it came from", "Used or disclosed for", "First seen", "Last seen", "Events", "May be kept"),
    categories.map((c) => el("tr", {},
      el("td", {}, keyed("categories", c.category)), el("td", { text: c.roles.join(", ") }),
      el("td", { text: c.sources.map((s) => (s.name && label("systems", s.name, "")) || (s.name ? `${s.name} (${label("source_types", s.type)})` : label("source_types", s.type))).join("; ") }),
      el("td", {}, named("purposes", c.purposes)),
      whenCell(c.first_seen), whenCell(c.last_seen), el("td", { class: "num", text: c.event_count }),
      el("td", { text: c.kept_until || "" }))));
}

function recipientName(id) {
  const r = state.person && state.person.who.recipients.find((x) => x.id === id);
  return r ? r.name : id;
}

function personAlertTable(alerts) {
  return el("table", { class: "alerts", id: "person-alerts" }, th("Severity", "What", "Data", "Purpose", "Recipient", "This person's events", "All events", "All people", "Status"),
    sortAlerts(alerts, "severity", -1).map((a) => [
      el("tr", { "data-alert": a.alert_id, class: "what" },
        el("td", { class: "sev-" + a.severity, text: a.severity }),
        el("td", { text: ruleTitle(a.rule), title: a.rule }),
        el("td", {}, keyed("categories", a.category)), el("td", {}, a.purpose ? keyed("purposes", a.purpose) : ""),
        el("td", {}, a.recipient ? el("a", { href: "#/recipients/" + encodeURIComponent(a.recipient), text: recipientName(a.recipient) }) : ""),
        el("td", { class: "num person-count", text: a.person_events }),
        el("td", { class: "num muted", text: a.count }), el("td", { class: "num muted", text: a.people }),
        el("td", { class: "status-" + a.status, text: a.status })),
      el("tr", { class: "why" }, el("td", {}), el("td", { colspan: 8, text: a.reason }))]));
}
