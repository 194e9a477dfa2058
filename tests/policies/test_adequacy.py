"""The adequacy decisions shipped as dated data, and what a transfer to each country rests on."""

from __future__ import annotations

from datetime import date

import pytest

from policies.adequacy import adequacy_list, home_countries, transfer_basis
from schemas.recipients import RegisteredRecipient


def test_the_list_and_its_date_are_pinned() -> None:
    """Changing the list is deliberate: this test and docs/transfers.md change with it (and its as_of date)."""
    data = adequacy_list()
    assert data.as_of == date(2026, 12, 3)
    assert data.source.startswith("https://commission.europa.eu/")
    assert {(d.country, d.adopted.isoformat(), d.condition) for d in data.decisions} == {
        ("AD", "2010-10-19", None),
        ("AR", "2003-06-30", None),
        ("BR", "2026-01-26", None),
        ("CA", "2001-12-20", "pipeda"),
        ("FO", "2010-03-05", None),
        ("GG", "2003-11-21", None),
        ("IL", "2011-01-31", None),
        ("IM", "2004-04-28", None),
        ("JP", "2019-01-23", "private_sector"),
        ("JE", "2008-05-08", None),
        ("NZ", "2012-12-19", None),
        ("KR", "2021-12-17", None),
        ("CH", "2000-07-26", None),
        ("GB", "2021-06-28", None),
        ("US", "2023-07-10", "dpf_certified"),
        ("UY", "2012-08-21", None),
        (None, "2025-07-15", None),  # the European Patent Organisation
    }
    uk = next(d for d in data.decisions if d.country == "GB")
    assert "renewed" in uk.note and "2031" in uk.note


def test_the_home_area_is_the_eea() -> None:
    eea = home_countries()
    assert len(eea) == 30 and {"DE", "IE", "FR", "IS", "LI", "NO"} <= eea
    assert not {"GB", "CH", "US", "HK"} & eea


def entry(country: str, **more: object) -> RegisteredRecipient:
    fields = {"id": "r", "name": "R", "type": "business_partner", "country": country, "role": "controller"}
    return RegisteredRecipient.model_validate({**fields, **more})


BCR = {"kind": "bcr", "reference": "Group BCR", "date": "2024-05-02"}


@pytest.mark.parametrize(
    ("country", "registered", "recipient_type", "status", "says"),
    [
        ("IE", None, "service_provider", "home", "in the EEA"),
        ("GB", None, "business_partner", "adequacy", "(EU) 2021/1772 of 28 June 2021"),
        ("CH", None, "business_partner", "adequacy", "2000/518/EC"),
        ("US", entry("US", dpf_certified=True), "advertiser", "adequacy", "(EU) 2023/1795"),
        ("US", entry("US"), "advertiser", "none", "does not say it is certified"),
        ("US", None, "data_broker", "none", "does not say it is certified"),
        ("US", entry("US", safeguard={**BCR, "kind": "scc"}), "advertiser", "safeguard", "Standard contractual"),
        ("CA", entry("CA", pipeda=True), "business_partner", "adequacy", "PIPEDA"),
        ("CA", entry("CA"), "business_partner", "none", "PIPEDA applies"),
        ("JP", None, "business_partner", "adequacy", "(EU) 2019/419"),
        ("JP", None, "authority", "none", "public authority"),
        (
            "HK",
            entry("HK", safeguard=BCR),
            "affiliate",
            "safeguard",
            "Binding corporate rules (GDPR Art. 47): Group BCR",
        ),
        ("HK", None, "affiliate", "none", "outside the EEA: no adequacy decision covers it"),
        (None, None, "affiliate", "unknown", "not known"),
    ],
)
def test_what_a_transfer_rests_on(
    country: str | None, registered: RegisteredRecipient | None, recipient_type: str, status: str, says: str
) -> None:
    basis = transfer_basis(country, registered, recipient_type)
    assert basis.status == status and says in basis.words, basis.words
    assert basis.is_transfer == (status != "home")
