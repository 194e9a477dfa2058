// privacy-lineage console, the registry views: transfers (the recipient registry and what each transfer rests on).
// Loaded after app.js, whose helpers (el, th, day, swatch, getJson, failed) and view table (VIEWS, ALLOWED) it uses.
"use strict";

const BASIS_WORDS = {
  home: "no transfer (home area)",
  adequacy: "adequacy decision",
  safeguard: "safeguard",
  none: "nothing known to rest on",
  unknown: "country unknown",
};

async function showTransfers() {
  const out = $("transfers-result");
  out.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  try {
    const reg = await getJson("/api/registry");
    const none = reg.recipients.filter((r) => r.basis === "none");
    out.replaceChildren(
      el("h2", { text: "Recipients and what their transfers rest on" }),
      el("p", { class: reg.configured ? "hint" : "warn", text: reg.configured
        ? `From the recipient registry and the disclosures recorded; adequacy decisions as of ${reg.adequacy_as_of}. Home area: ${reg.home_area}.`
        : `No recipient registry is configured (LINEAGE_RECIPIENTS): no safeguard is known for any recipient. Adequacy decisions as of ${reg.adequacy_as_of}.` }),
      el("div", { class: "summary panel" },
        stat(reg.recipients.length, "recipients"),
        stat(reg.recipients.filter((r) => r.basis !== "home").length, "outside the " + reg.home_area),
        el("div", {}, el("div", { class: `big${none.length ? " warn" : ""}`, text: none.length }), el("div", { class: "lbl", text: "with nothing to rest a transfer on" })),
        stat(reg.recipients.filter((r) => r.observed && !r.in_registry).length, "observed, not in the registry")),
      el("table", { id: "transfer-list" }, th("", "Recipient", "Type", "Role", "Country", "Transfer rests on", "Registry"),
        reg.recipients.map((r) => el("tr", { class: r.basis === "none" ? "undeclared" : "" },
          el("td", {}, swatch(r.type)),
          el("td", {}, r.observed ? el("a", { href: "#/recipients/" + encodeURIComponent(r.id), text: r.name }) : r.name,
            el("div", { class: "hint mono", text: r.id })),
          el("td", { text: r.type.replace(/_/g, " ") }),
          el("td", { text: r.role ? r.role + (r.dpa ? " · DPA " + r.dpa : "") : "" }),
          el("td", { text: (r.country || "not recorded") + (r.registry_country && r.registry_country !== r.country ? ` (registry: ${r.registry_country})` : "") }),
          el("td", {}, el("strong", { class: r.basis === "none" ? "warn" : "", text: BASIS_WORDS[r.basis] || r.basis }), el("div", { class: "hint", text: r.statement.replace(/^Adequacy decision: /, "") })),
          el("td", { text: (r.in_registry ? "listed" : "not listed") + (r.observed ? "" : " · no disclosure recorded") })))));
  } catch (e) { failed(out, e); }
}

VIEWS.transfers = showTransfers;
ALLOWED.transfers = ["dpo", "auditor"];
