"""Which disclosures are a sale or "sharing" under the CCPA: the rule sale-after-opt-out and the CCPA report both ask.

To *sell* is to disclose personal information for money or other valuable consideration (Civ. Code §1798.140(ad));
to *share* is to disclose it for cross-context behavioural advertising, paid or not (§1798.140(ah), (k)); every
other disclosure the report lists is one for a business purpose (§1798.140(e)). Events do not record whether
consideration changed hands, so the tables below read it from whom the data goes to and why, erring towards telling
the consumer; a policy may also mark a declaration as a sale or sharing where its text says so (``Disclosure.ccpa``).
Transfers to a successor in a merger or bankruptcy are not sales (§1798.140(ad)(2)(C)) and no table names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.consent import ConsentRecord
from schemas.events import AnyEvent, DataShared, OptOutSignal, RecipientType
from schemas.policy import Disclosure, Policy
from schemas.taxonomy import covers

SOLD, SHARED = "sold", "shared"
#: The two kinds, in the order reports list them.
KINDS = (SOLD, SHARED)

#: A policy's mark (``Disclosure.ccpa``) as the kind of disclosure it makes.
MARKS: Mapping[str, str] = {"sale": SOLD, "sharing": SHARED}

_THIRD_PARTIES = frozenset(
    {RecipientType.BUSINESS_PARTNER.value, RecipientType.INVESTOR.value, RecipientType.OTHER_THIRD_PARTY.value}
)

#: Recipient types every disclosure to which is a sale or sharing, whatever its purpose: a data broker's business is
#: selling information about people it has no relationship with (§1798.99.80(d)); an advertiser's is advertising.
RECIPIENT_KINDS: Mapping[str, frozenset[str]] = {
    RecipientType.DATA_BROKER.value: frozenset({SOLD}),
    RecipientType.ADVERTISER.value: frozenset({SHARED}),
}

#: Purposes that make a disclosure a sale or sharing (a key covers its descendants), to the recipient types named
#: (None: to any recipient); the first row that matches decides. Advertising is cross-context behavioural advertising;
#: other marketing or sales by a third party is presumed paid for.
PURPOSE_KINDS: tuple[tuple[str, frozenset[str] | None, frozenset[str]], ...] = (
    ("marketing.advertising", None, frozenset({SHARED})),
    ("marketing", _THIRD_PARTIES, frozenset({SOLD})),
    ("sales", _THIRD_PARTIES, frozenset({SOLD})),
)

CLASSIFICATION_RULE = (
    "A disclosure counts as sold when it goes to a data broker (any purpose), or to a business partner, investor or "
    "other third party for marketing or sales other than advertising (presumed paid for); as shared when it goes to "
    "an advertiser (any purpose) or its purpose is advertising (marketing.advertising and narrower: cross-context "
    "behavioural advertising); and as what the policy says where a declaration covering it is marked as a sale or "
    "sharing. A disclosure may be both. Every other disclosure (affiliates, service providers, authorities, "
    "successors, and third parties for other purposes) is reported as disclosed for a business purpose. Events do "
    "not record whether money or other valuable consideration changed hands, so doubtful cases are reported as sold."
)


def _under(d: Disclosure, recipient_type: str, purpose: str, category: str, role: str, uses: list[str]) -> bool:
    """Whether a flow falls under a marked declaration: its recipient type, role and category are the declaration's,
    and its purpose too where the declaration names purposes (a clause naming none still describes its flows)."""
    if recipient_type not in d.recipient_types or role not in d.roles:
        return False
    if d.data_categories is not None and not any(covers(c, category) for c in d.data_categories):
        return False
    if d.purposes in ([], "any"):
        return True
    declared = uses if d.purposes == "any-declared-use" else d.purposes
    return any(covers(p, purpose) for p in declared)


class SaleClassifier:
    """Classifies disclosures as sold and/or shared under one policy (the empty set: for a business purpose)."""

    def __init__(self, policy: Policy) -> None:
        self.marked = [d for d in policy.disclosures if d.ccpa and d.identifiability == "identified"]
        self._uses = sorted({p for u in policy.uses for p in u.purposes})
        # bounded by the taxonomy: keys, recipient types and roles
        self._memo: dict[tuple[Any, ...], frozenset[str]] = {}

    def kinds(self, recipient_type: str, purpose: str, category: str, role: str) -> frozenset[str]:
        """``{"sold"}``, ``{"shared"}``, both, or empty (a disclosure for a business purpose)."""
        key = (recipient_type, purpose, category, role)
        found = self._memo.get(key)
        if found is None:
            found = RECIPIENT_KINDS.get(recipient_type, frozenset())
            for prefix, types, kinds in PURPOSE_KINDS:
                if covers(prefix, purpose) and (types is None or recipient_type in types):
                    found |= kinds
                    break
            for d in self.marked:
                if _under(d, recipient_type, purpose, category, role, self._uses):
                    found |= frozenset(MARKS[m] for m in d.ccpa)
            self._memo[key] = found
        return found

    def marking(self, recipient_type: str, purpose: str, category: str, role: str) -> Disclosure | None:
        """The first marked declaration a flow falls under, if any (its clause is what a finding quotes)."""
        for d in self.marked:
            if _under(d, recipient_type, purpose, category, role, self._uses):
                return d
        return None

    def after_opt_out(
        self, event: AnyEvent, category: str, purpose: str, opt_out: ConsentRecord
    ) -> tuple[str, tuple[str, str]] | None:
        """The reason and clause of a sale-after-opt-out finding, when ``event`` discloses ``category`` in a sale
        or sharing after ``opt_out`` (CCPA §1798.120(a), §1798.135; a Global Privacy Control signal is an opt-out,
        11 CCR §7025); None otherwise. The clause is the marked declaration's, if any (else empty)."""
        if not isinstance(event, DataShared):
            return None
        rtype, role = event.recipient.type.value, event.role.value
        kinds = self.kinds(rtype, purpose, category, role)
        if not kinds:
            return None
        how = "a Global Privacy Control signal" if opt_out.signal == OptOutSignal.GPC.value else "a request"
        marked = self.marking(rtype, purpose, category, role)
        # the opt-out's event id and time are the person's: an alert outlives an erasure of its people, so its reason
        # names neither (the person's consent records, erased with them, say when)
        reason = (
            f"{category!r} disclosed to {event.recipient.id!r} ({rtype}) for {purpose!r}, {kinds_text(kinds)} under "
            f"the CCPA, after its subject opted out of sale and sharing by {how}"
        )
        return reason, (marked.clause.section, marked.clause.text) if marked is not None else ("", "")


def classification_rule(classifier: SaleClassifier) -> str:
    """:data:`CLASSIFICATION_RULE`, with the declarations the policy marks (or that it marks none)."""
    marked = "; ".join(f"{d.id!r} ({' and '.join(d.ccpa)})" for d in classifier.marked)
    return CLASSIFICATION_RULE + (
        f" The policy marks these declarations: {marked}." if marked else " The policy marks no declaration."
    )


def kinds_text(kinds: frozenset[str]) -> str:
    """'a sale', 'sharing' or 'a sale and sharing', as a finding says it."""
    return " and ".join(w for k, w in ((SOLD, "a sale"), (SHARED, "sharing")) if k in kinds)
