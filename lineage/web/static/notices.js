// privacy-lineage console, the person page's Art. 19 notices: each recipient on the list of each of the person's
// erasures and where its notice stands (not sent, sent, acknowledged), and the button that sends them.
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
    el("table", { id: "notices-table" }, th("Recipient", "Erasure", "Status", "Sent", "Through", "Notice", "Acknowledged"),
      notices.map((n) => el("tr", { "data-recipient": n.recipient_id, class: n.status === "not-sent" ? "undeclared" : "" },
        el("td", {}, el("a", { href: "#/recipients/" + encodeURIComponent(n.recipient_id), text: n.recipient_name })),
        whenCell(n.requested_at),
        el("td", { class: "notice-status status-" + n.status, text: NOTICE_STATUS[n.status] }),
        n.sent_at ? whenCell(n.sent_at) : el("td", { text: "—" }),
        el("td", { text: n.channel || "—" }),
        el("td", {}, n.notice_id ? el("span", { class: "key", text: n.notice_id }) : "—"),
        n.acknowledged_at ? el("td", {}, when(n.acknowledged_at), n.acknowledged_by ? el("div", { class: "hint", text: "by " + n.acknowledged_by }) : null) : el("td", { text: "—" })))),
    el("div", { class: "row actions" },
      el("button", { type: "button", id: "send-notices", class: "small", disabled: unsent ? null : "", onclick: send(false) },
        unsent ? `Send Art. 19 notices (${unsent} not sent)` : "Every recipient has been notified"),
      unsent < notices.length ? el("button", { type: "button", id: "resend-notices", class: "secondary small", onclick: send(true) }, "Send again to all") : null));
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
