"""The constrained keys of the contract: fideslang taxonomy keys (checked against the taxonomy in the validation
context, or the default one), identifiers, event ids and country codes, as ``Annotated`` types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo

from schemas.taxonomy import Dimension, Taxonomy, UnknownKey, default_taxonomy

_KEY_PATTERN = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"


def _taxonomy(info: ValidationInfo) -> Taxonomy:
    ctx = info.context
    found = ctx.get("taxonomy") if isinstance(ctx, dict) else None
    return found if isinstance(found, Taxonomy) else default_taxonomy()


def _check_key(dimension: Dimension, value: str, info: ValidationInfo) -> str:
    # runs for every key of every event: a set lookup in the context parse_event passes (schemas.parsing._context);
    # anything else (no such context, an unknown key) goes the long way, which also words the error
    ctx = info.context
    if type(ctx) is dict:
        keys = ctx.get("keys")
        if keys is not None and value in keys[dimension]:
            return value
    try:
        return _taxonomy(info).check(dimension, value)
    except UnknownKey:
        # the key is not quoted: a producer may have put anything there, a person's id included
        raise ValueError(
            f"unknown {dimension.label}: not in the fideslang default taxonomy and not declared as a custom key "
            "in the policy"
        ) from None


def _key_validator(dimension: Dimension) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        return _check_key(dimension, value, info)

    return AfterValidator(check)


_KeyStr = Annotated[str, StringConstraints(pattern=_KEY_PATTERN, max_length=200)]
DataCategoryKey = Annotated[
    _KeyStr,
    _key_validator(Dimension.DATA_CATEGORY),
    Field(description="A fideslang data-category key, e.g. 'user.contact.email', or a custom key the policy declares."),
]
DataUseKey = Annotated[
    _KeyStr,
    _key_validator(Dimension.DATA_USE),
    Field(
        description="A fideslang data-use key (the purpose), e.g. 'essential.service.operations.support', "
        "or a custom key the policy declares."
    ),
]
SALE_AND_SHARING = "sale_and_sharing"
"""The scope of an opt-out of the sale and sharing of personal information (CCPA §1798.120): no purpose key, since
it concerns disclosures whatever their purpose."""


def _opt_out_scope(value: str, info: ValidationInfo) -> str:
    return value if value == SALE_AND_SHARING else _check_key(Dimension.DATA_USE, value, info)


OptOutScope = Annotated[
    _KeyStr,
    AfterValidator(_opt_out_scope),
    Field(description=f"A fideslang data-use key under 'marketing', or '{SALE_AND_SHARING}'."),
]
DataSubjectKey = Annotated[
    _KeyStr,
    _key_validator(Dimension.DATA_SUBJECT),
    Field(
        description="A fideslang data-subject key, e.g. 'customer', 'employee', or a custom key the policy declares."
    ),
]
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"),
]
EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
    Field(description="Unique id of the event (a UUID is recommended); replays of the same id are applied once."),
]
CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 country code, upper case, e.g. 'HK', 'DE', 'US'."),
]
