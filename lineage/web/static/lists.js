// privacy-lineage console, the lists: recipients (with what the policy declares of them and the open alerts on
// disclosures to them, by rule), one recipient, and the alerts (sortable; filtered by severity, rule, status and period).
"use strict";

const SEVERITIES = ["critical", "high", "medium", "low"];

// -- recipients -----------------------------------------------------------------------------------------------
async function showRecipients(args) {
  const out = $("recipients-result");
  out.replaceChildren(el("p", { class: "hint", role: "status", text: "Loading…" }));
  try {
    if (args[0]) await renderRecipient(out, args[0]);
    else await renderRecipientList(out);
  } catch (e) { failed(out, e); }
}

function declaredStatus(type, declared) {
  const info = Object.assign({}, (state.vocab.recipient_types || {})[type] || {}, declared ? { declared } : {});
  const purposes = info.declared_purposes;
  if (info.declared === "identified" && purposes === null) return el("span", { class: "ok", text: "declared, any purpose" });
  if (info.declared === "identified") {
    const names = purposes.map((p) => label("purposes", p));
    return el("span", { class: "limited", title: "Declared for: " + names.join(", "),
      text: purposes.length <= 2 ? "declared for " + names.join(", ") : `declared for ${purposes.length} purposes` });
  }
  if (info.declared === "aggregated-only") return el("span", { class: "caution", text: "aggregated data only" });
  return el("span", { class: "warn", text: "not declared" });
}

// open alerts about disclosures to a recipient, one chip per rule in its words (the most severe first), e.g.
// "⚠ 2 Sale or sharing of personal information after the person opted out of it (CCPA §1798.120)"
function flags(type, byRule) {
  const rank = (id) => SEVERITIES.indexOf(ruleSeverity(id));
  const rules = Object.keys(byRule || {}).sort((a, b) => rank(a) - rank(b) || ruleTitle(a).localeCompare(ruleTitle(b)));
  return [
    rules.map((id) => el("span", { class: "flag-chip bad rule", "data-rule": id, title: `${byRule[id]} open alert(s) of rule ${id} (${ruleSeverity(id)}) about disclosures to this recipient`, text: `⚠ ${byRule[id]} ${ruleTitle(id)}` })),
    type === "data_broker" ? el("span", { class: "flag-chip broker", title: "A data broker: disclosures to it count as sold (CCPA)", text: "data broker" }) : null,
  ];
}

// Where a recipient is. A recipient registry's transfer safeguard (adequacy, SCCs, BCRs), when the project has one,
// belongs in this cell beside the country: the list and a recipient's page both draw it from here.
// Chapter V: what a disclosure to the recipient rests on, under its country (the words on hover).
const TRANSFER_LABELS = { home: "no transfer", adequacy: "adequacy decision", safeguard: "safeguard", none: "no safeguard", unknown: "" };

function whereCell(s) {
  const basis = TRANSFER_LABELS[s.transfer] || "";
  return el("td", { class: "where", title: s.transfer_statement },
    s.recipient.country || "not recorded",
    basis ? el("div", { class: s.transfer === "none" ? "hint transfer warn" : "hint transfer", text: basis }) : null);
}

function period(first, last) {
  return el("td", { class: "nowrap" }, day(first), day(last) !== day(first) ? el("div", { class: "hint", text: "to " + day(last) }) : null);
}

async function renderRecipientList(out) {
  const list = await getJson("/api/recipients");
  const flagged = list.filter((s) => s.open_alerts || s.recipient.type === "data_broker").length;
  out.replaceChildren(el("h2", { text: "Recipients of personal data" }),
    el("p", { class: "hint", text: `${list.length} recipient(s); ${flagged} flagged (open alerts, by rule, or a data broker). “In the policy”: whether the published policy declares disclosures to this type of recipient.` }),
    el("div", { class: "table-wrap" }, el("table", { id: "recipient-list" }, th("", "Recipient", "Type", "Country, transfer", "In the policy", "Flags", "Categories", "Purposes", "Share events", "People", "Period"),
      list.map((s) => {
        const r = s.recipient;
        return el("tr", { class: s.undeclared ? "undeclared" : "", "data-recipient": r.id },
          el("td", {}, swatch(r.type)),
          el("td", {}, el("a", { href: "#/recipients/" + encodeURIComponent(r.id), text: r.name })),
          el("td", { class: "type", text: label("recipient_types", r.type), title: r.type }), whereCell(s),
          el("td", { class: "declared" }, declaredStatus(r.type, s.declared)), el("td", { class: "flags" }, flags(r.type, s.open_by_rule)),
          el("td", { class: "num", text: s.categories.length }), el("td", { class: "num", text: s.purposes.length }),
          el("td", { class: "num", text: s.events }), el("td", { class: "num", text: s.people }),
          period(s.first_seen, s.last_seen));
      }))));
}

async function renderRecipient(out, id) {
  const [view, alerts] = await Promise.all([getJson("/api/recipients/" + encodeURIComponent(id)), getJson("/api/alerts")]);
  const r = view.recipient;
  const mine = alerts.filter((a) => a.recipient === r.id);
  const byRule = {};
  for (const a of mine) if (a.status === "open") byRule[a.rule] = (byRule[a.rule] || 0) + 1;
  const open = Object.values(byRule).reduce((n, k) => n + k, 0);
  out.replaceChildren(
    el("p", {}, el("a", { href: "#/recipients", text: "← all recipients" })),
    el("div", { class: "panel", id: "recipient-view" },
      el("h2", {}, swatch(r.type), " ", r.name, " ", flags(r.type, byRule)),
      el("p", {}, `${label("recipient_types", r.type)}${r.country ? " · " + r.country : ""}${r.contact ? " · " + r.contact : ""} · In the policy: `, declaredStatus(r.type),
        el("span", { class: "key", text: "  " + r.id })),
      el("div", { class: "summary" }, stat(view.events, "share events"), stat(view.people, "people"),
        stat(view.categories.length, "categories"), stat(view.purposes.length, "purposes"),
        el("div", {}, el("div", { class: `big${open ? " warn" : ""}`, text: mine.length }), el("div", { class: "lbl", text: `alerts (${open} open)` })),
        el("div", {}, el("div", { class: "lbl", text: "from" }), el("div", { text: `${day(view.first_seen)} to ${day(view.last_seen)}` })),
        el("div", {}, el("div", { class: "lbl", text: "whose data" }), el("div", { text: view.subject_types.map((t) => label("subjects", t)).join(", ") })))),
    el("h3", { text: "What it received, and for what" }),
    el("table", { id: "recipient-flows" }, th("Data", "Purpose", "SOS's role", "Whose data", "People", "Events", "First", "Last", "Evidence"),
      view.flows.map((f) => {
        const on = [...new Set(mine.filter((a) => a.category === f.category && (!a.purpose || a.purpose === f.purpose)).map((a) => a.rule))];
        const bad = on.length > 0;
        return el("tr", { class: bad ? "undeclared" : "" },
          el("td", {}, keyed("categories", f.category)), el("td", {}, keyed("purposes", f.purpose), on.map((id) => el("div", { class: "warn", "data-rule": id, text: "⚠ " + ruleTitle(id) }))),
          el("td", { text: f.role }), el("td", { text: label("subjects", f.subject_type) }),
          el("td", { class: "num", text: f.subjects }), el("td", { class: "num", text: f.events }),
          el("td", { class: "nowrap", text: day(f.first_seen) }), el("td", { class: "nowrap", text: day(f.last_seen) }), el("td", {}, evidenceLink(f.ref)));
      })),
    mine.length ? el("h3", { text: "Alerts on disclosures to this recipient" }) : null,
    mine.length ? alertTable(mine, { canAck: false, recipient: false }) : null,
    el("p", { class: "hint" }, "Every share event to it: ", evidenceLink(view.ref), " (the events are listed apart from the counts: a long history has many)."));
}

// -- evidence: the events behind a reference (a flow, a recipient, an alert), a page at a time ------------------
function evidenceLink(ref) {
  return el("a", { class: "mono", href: "#/evidence/" + encodeURIComponent(ref), text: ref });
}

async function showEvidence(args) {
  const out = $("evidence-result");
  const ref = args[0] || "";
  out.replaceChildren(el("h2", { text: "Evidence" }),
    el("p", { class: "hint", role: "status", text: `Reading the events behind ${ref}… (this reads the events themselves, and takes longer on a long history)` }));
  try {
    const page = await getJson(`/api/evidence/${encodeURIComponent(ref)}?limit=1000`);
    out.replaceChildren(el("h2", {}, "Evidence for ", el("code", { text: ref })),
      el("p", { class: "hint", text: page.complete ? `${page.events.length} event(s).` : `The first ${page.events.length} event(s); \`lineage evidence ${ref}\` lists every one.` }),
      el("table", { id: "evidence-table" }, th("#", "Occurred (UTC)", "Event id"),
        page.events.map((e, i) => el("tr", {}, el("td", { class: "num", text: i + 1 }), whenCell(e.occurred_at), el("td", { class: "mono", text: e.event_id })))));
  } catch (e) { failed(out, e); }
}

// -- alerts ---------------------------------------------------------------------------------------------------
function ruleTitle(id) {
  const rule = (state.vocab.rules || []).find((r) => r.id === id);
  return rule ? rule.title : id;
}

function ruleSeverity(id) {
  const rule = (state.vocab.rules || []).find((r) => r.id === id);
  return rule ? rule.severity : "";
}

function sortAlerts(alerts, key, dir) {
  const rank = (s) => SEVERITIES.length - SEVERITIES.indexOf(s);
  const value = {
    severity: (a) => [rank(a.severity), a.last_seen],
    rule: (a) => [ruleTitle(a.rule), a.last_seen],
    category: (a) => [label("categories", a.category), a.last_seen],
    events: (a) => [a.count, a.last_seen],
    people: (a) => [a.people, a.last_seen],
    last_seen: (a) => [a.last_seen, rank(a.severity)],
    status: (a) => [a.status, rank(a.severity)],
  }[key];
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  return [...alerts].sort((a, b) => { const [x1, x2] = value(a), [y1, y2] = value(b); return dir * (cmp(x1, y1) || cmp(x2, y2)); });
}

function fillAlertForm() {
  const rule = $("alert-rule");
  if (rule.options.length <= 1) {
    for (const r of state.vocab.rules || []) rule.append(el("option", { value: r.id, text: `${r.title} (${r.severity})` }));
  }
}

async function showAlerts() {
  fillAlertForm();
  await loadAlerts();
  if ($("alert-auto").checked) state.alertTimer = setInterval(loadAlerts, 30000);
}

async function loadAlerts(event) {
  if (event) event.preventDefault();
  const out = $("alerts-result");
  // the loading state first: never a blank view while the requests wait their turn
  if (!out.firstChild || event) out.replaceChildren(el("p", { class: "hint", role: "status", text: "Loading the alerts…" }));
  const names = state.recipientNames ? null : getJson("/api/recipients").then(
    (list) => new Map(list.map((s) => [s.recipient.id, s.recipient.name])), () => new Map());
  const q = new URLSearchParams();
  if ($("alert-status").value) q.set("status", $("alert-status").value);
  if ($("alert-rule").value) q.set("rule", $("alert-rule").value);
  if ($("alert-severity").value) q.set("severity", $("alert-severity").value);
  if ($("alert-since").value) q.set("since", $("alert-since").value + "T00:00:00Z");
  if ($("alert-until").value) q.set("until", new Date(Date.parse($("alert-until").value + "T00:00:00Z") + 86400000).toISOString()); // the day included
  // filters changed quickly send requests that may answer out of order: only the latest one is shown
  const asked = (state.alertRequest = (state.alertRequest || 0) + 1);
  try {
    const [alerts, map] = await Promise.all([getJson("/api/alerts?" + q), names]);
    if (map) state.recipientNames = map;
    if (asked !== state.alertRequest) return;
    state.alerts = alerts;
    renderAlerts();
  } catch (e) { if (asked === state.alertRequest) failed(out, e); }
}

function renderAlerts() {
  const out = $("alerts-result");
  const shown = state.alerts;
  const sort = state.alertSort || { key: "severity", dir: -1 };
  const counts = SEVERITIES.map((s) => [s, shown.filter((a) => a.severity === s).length]).filter(([, n]) => n);
  out.replaceChildren(
    el("p", { class: "hint", role: "status", text: `${shown.length} alert(s)` + (counts.length ? ": " + counts.map(([s, n]) => `${n} ${s}`).join(", ") : "") + ` · updated ${new Date().toLocaleTimeString()}` }),
    alertTable(sortAlerts(shown, sort.key, sort.dir), { canAck: state.me && state.me.role === "dpo", sort, onSort: (key) => {
      state.alertSort = { key, dir: sort.key === key ? -sort.dir : (key === "rule" || key === "category" || key === "status" ? 1 : -1) };
      renderAlerts();
      const again = document.querySelector(`#alerts-result th button[data-sort="${key}"]`);
      if (again) again.focus();
    } }));
}

// Two rows per alert: what (severity, rule, data, purpose, recipient, counts, status) and why (reason, clause).
function alertTable(alerts, opts) {
  const o = Object.assign({ canAck: false, recipient: true, sort: null, onSort: null }, opts || {});
  const head = (text, key) => {
    if (!o.onSort || !key) return el("th", { text });
    const active = o.sort && o.sort.key === key;
    return el("th", { "aria-sort": active ? (o.sort.dir > 0 ? "ascending" : "descending") : "none" },
      el("button", { type: "button", class: "sort", "data-sort": key, onclick: () => o.onSort(key) }, text, active ? (o.sort.dir > 0 ? " ▲" : " ▼") : ""));
  };
  const cols = [["Severity", "severity"], ["Rule", "rule"], ["Data", "category"], ["Purpose", null]];
  if (o.recipient) cols.push(["Recipient", null]);
  cols.push(["Events", "events"], ["People", "people"], ["Last seen", "last_seen"], ["Status", "status"]);
  return el("div", { class: "table-wrap" }, el("table", { class: "alerts" }, el("tr", {}, cols.map(([t, k]) => head(t, k))),
    alerts.map((a) => [
      el("tr", { "data-alert": a.alert_id, "data-severity": a.severity, class: "what" },
        el("td", { class: "sev-" + a.severity, text: a.severity }),
        el("td", { title: a.rule }, ruleTitle(a.rule), el("div", { class: "key", text: a.rule })),
        el("td", {}, keyed("categories", a.category)),
        el("td", {}, a.purpose ? keyed("purposes", a.purpose) : ""),
        o.recipient ? el("td", {}, a.recipient ? el("a", { href: "#/recipients/" + encodeURIComponent(a.recipient), text: (state.recipientNames && state.recipientNames.get(a.recipient)) || a.recipient }) : "",
          a.recipient_type ? el("div", { class: "hint", text: label("recipient_types", a.recipient_type) }) : null) : null,
        el("td", { class: "num", text: a.count }),
        el("td", { class: "num", text: a.people }),
        el("td", { class: "nowrap" }, day(a.last_seen), el("div", { class: "hint", text: when(a.last_seen).slice(11) })),
        el("td", { class: "status-" + a.status }, a.status,
          o.canAck && a.status === "open" ? el("div", {}, el("button", { class: "small ack", type: "button", onclick: (e) => acknowledge(a.alert_id, e.target) }, "Acknowledge")) : null)),
      el("tr", { class: "why" }, el("td", {}), el("td", { colspan: cols.length - 1 }, a.reason, a.clause_section ? el("span", { class: "hint", text: "  · policy section: " + a.clause_section }) : null,
        el("span", { class: "hint" }, "  · evidence: "), evidenceLink(a.alert_id))),
    ])));
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    await api("/api/alerts/" + encodeURIComponent(id) + "/ack", { method: "POST" });
    showMessage(`Alert ${id} acknowledged.`, "info");
    await loadAlerts();
  } catch (e) { button.disabled = false; if (!(e instanceof ApiError && e.status === 401)) showMessage("Could not acknowledge: " + e.message); }
}
