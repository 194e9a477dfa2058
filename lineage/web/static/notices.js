// privacy-lineage console, the person page's Art. 19 notices: each recipient on the list of each of the person's
// erasures, what it had received, and where its notice stands (not sent, sent, acknowledged), the button that sends them, and a button per
// sent notice that records the recipient's acknowledgement (after a confirmation; by the signed-in token's name).
"use strict";

function noticesPath(subject) { return "/api/subjects/" + encodeURIComponent(subject) + "/notices"; }

const NOTICE_STATUS = { "not-sent": "not sent", sent: "sent, awaiting acknowledgement", acknowledged: "acknowledged" };

function noticesPanel(subject, notices) {
  if (!notices.length) return null;
  const unsent = notices.filter((n) => n.status === "not-sent").length;
  const send = (resend) => (e) => sendNotices(subject, resend, e.target);
  return el("div", { class: "panel", id: "person-notices" },
    el("h3", { text: "Art. 19 notices of the person's erasure" }),
    el("p", { class: "hint", text: "Each recipient the erased data had been disclosed to must be told (GDPR Art. 19, CCPA §1798.105(c)). A notice names the person only by the recipient's own reference or the pseudonym." }),
    el("table", { id: "notices-table" }, th("Recipient", "Erasure", "Status", "Sent", "Through", "Notice", "Acknowledgement"),
      notices.map((n) => el("tr", { "data-recipient": n.recipient_id, "data-notice": n.notice_id || "", class: n.status === "not-sent" ? "undeclared" : "" },
        el("td", {}, el("a", { href: "#/recipients/" + encodeURIComponent(n.recipient_id), text: n.recipient_name }), noticeCategories(n)),
        whenCell(n.requested_at),
        el("td", { class: "notice-status status-" + n.status, text: noticeStatusText(n) }),
        n.sent_at ? whenCell(n.sent_at) : el("td", { text: "—" }),
        el("td", { text: n.channel || "—" }),
        el("td", {}, n.notice_id ? el("span", { class: "key", text: n.notice_id }) : "—"),
        el("td", { class: "notice-ack" }, ackControl(subject, n))))),
    el("div", { class: "row actions" },
      el("button", { type: "button", id: "send-notices", class: "small", disabled: unsent ? null : "", onclick: send(false) },
        unsent ? `Send Art. 19 notices (${unsent} not sent)` : "Every recipient has been notified"),
      unsent < notices.length ? el("button", { type: "button", id: "resend-notices", class: "secondary small", onclick: send(true) }, "Send again to all") : null));
}

// what the recipient had received of the person's data, as the erasure recorded it ("User Contact Email, Name"); an
// erasure recorded before the categories were kept says so
function noticeCategories(n) {
  const text = n.categories === null || n.categories === undefined
    ? "what it received was not recorded (an older erasure): every category disclosed to it"
    : n.categories.map((k) => label("categories", k)).join(", ") || "no category recorded";
  return el("div", { class: "hint notice-categories", title: (n.categories || []).join(", "), text: "Received: " + text });
}

// "acknowledged 2026-05-01 10:00:00 UTC by dpo-desk": where a notice stands, in words
function noticeStatusText(n) {
  if (n.status !== "acknowledged") return NOTICE_STATUS[n.status];
  return "acknowledged " + when(n.acknowledged_at) + (n.acknowledged_by ? " by " + n.acknowledged_by : "");
}

// A sent notice's button; pressed, it asks first (in the row: who is recorded, and that it cannot be undone)
function ackControl(subject, n) {
  if (n.status !== "sent") return "—";
  const asking = state.person && state.person.askAck === n.notice_id;
  const redraw = (id) => { state.person.askAck = id; renderPerson(); };
  if (!asking) {
    return el("button", { type: "button", class: "secondary small ack-notice", "aria-label": `Record that ${n.recipient_name} acknowledged notice ${n.notice_id}`,
      onclick: () => { redraw(n.notice_id); const yes = document.querySelector("#notices-table .confirm-ack"); if (yes) yes.focus(); } }, "Acknowledged…");
  }
  return el("div", { class: "ack-confirm", role: "group", "aria-label": "Confirm the acknowledgement" },
    el("div", { class: "hint", text: `Record that ${n.recipient_name} acknowledged this notice, now, by ${state.me ? state.me.name : "you"}? The first acknowledgement stays.` }),
    el("button", { type: "button", class: "small confirm-ack", onclick: (e) => acknowledgeNotice(subject, n, e.target) }, "Record"),
    " ",
    el("button", { type: "button", class: "secondary small cancel-ack", onclick: () => redraw(null) }, "Cancel"));
}

async function acknowledgeNotice(subject, n, button) {
  button.disabled = true;
  try {
    const res = await api("/api/notices/" + encodeURIComponent(n.notice_id) + "/ack", { method: "POST" });
    const rec = await res.json();
    if (state.person && state.person.who.subject === subject) {
      state.person.askAck = null;
      state.person.notices = state.person.notices.map((x) => x.notice_id === rec.notice_id
        ? Object.assign({}, x, { status: "acknowledged", acknowledged_at: rec.acknowledged_at, acknowledged_by: rec.acknowledged_by }) : x);
      renderPerson();
    }
    showMessage(`Notice ${rec.notice_id} to ${n.recipient_name}: ${noticeStatusText({ status: "acknowledged", acknowledged_at: rec.acknowledged_at, acknowledged_by: rec.acknowledged_by })}.`, "info");
  } catch (e) { button.disabled = false; if (!(e instanceof ApiError && e.status === 401)) showMessage("Could not record the acknowledgement: " + e.message); }
}

async function sendNotices(subject, resend, button) {
  button.disabled = true;
  try {
    const res = await api(noticesPath(subject) + (resend ? "?resend=true" : ""), { method: "POST" });
    const done = await res.json();
    const count = (o) => done.outcomes.filter((x) => x.outcome === o).length;
    const failed = done.outcomes.filter((x) => x.outcome === "failed");
    if (state.person && state.person.who.subject === subject) { state.person.notices = done.notices; renderPerson(); }
    if (failed.length) showMessage(`${count("sent")} notice(s) sent through ${done.channel}; ${failed.length} could not be sent (${failed.map((x) => x.recipient_id + ": " + x.error).join("; ")}). Press again to retry.`);
    else showMessage(`${count("sent")} notice(s) sent through ${done.channel}` + (count("already-sent") ? `; ${count("already-sent")} recipient(s) had been notified already.` : "."), "info");
  } catch (e) { button.disabled = false; if (!(e instanceof ApiError && e.status === 401)) showMessage("Could not send the notices: " + e.message); }
}
