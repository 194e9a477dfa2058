"""fideslang taxonomy keys: which keys exist, their parents and labels, plus policy-declared custom keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from types import MappingProxyType


class Dimension(StrEnum):
    """The three fideslang taxonomies the event contract uses."""

    DATA_CATEGORY = "data_category"
    DATA_USE = "data_use"
    DATA_SUBJECT = "data_subject"

    @property
    def label(self) -> str:
        return {
            Dimension.DATA_CATEGORY: "data category",
            Dimension.DATA_USE: "data use (purpose)",
            Dimension.DATA_SUBJECT: "data subject type",
        }[self]


@dataclass(frozen=True, slots=True)
class TaxonomyEntry:
    """One key of a taxonomy: its human name, parent and whether it is fideslang's own."""

    key: str
    name: str
    parent: str | None
    description: str = ""
    custom: bool = False


class UnknownKey(ValueError):
    """A key that is neither in the fideslang default taxonomy nor declared as custom."""

    def __init__(self, dimension: Dimension, key: str) -> None:
        self.dimension = dimension
        self.key = key
        super().__init__(
            f"unknown {dimension.label} {key!r}: not in the fideslang default taxonomy "
            "and not declared as a custom key in the policy"
        )


@dataclass(frozen=True)
class Taxonomy:
    """An immutable set of keys per dimension, with parent links for hierarchy checks."""

    entries: Mapping[Dimension, Mapping[str, TaxonomyEntry]] = field(default_factory=dict)

    def has(self, dimension: Dimension, key: str) -> bool:
        return key in self.entries.get(dimension, {})

    @cached_property
    def key_sets(self) -> Mapping[Dimension, frozenset[str]]:
        """Each dimension's keys as a set: the membership test of every key of every event validated."""
        return MappingProxyType({d: frozenset(self.entries.get(d, {})) for d in Dimension})

    def check(self, dimension: Dimension, key: str) -> str:
        """Return ``key`` if it exists, else raise :class:`UnknownKey`."""
        if not self.has(dimension, key):
            raise UnknownKey(dimension, key)
        return key

    def entry(self, dimension: Dimension, key: str) -> TaxonomyEntry:
        try:
            return self.entries[dimension][key]
        except KeyError:
            raise UnknownKey(dimension, key) from None

    def label(self, dimension: Dimension, key: str) -> str:
        """The human name of a key, or the key itself when unknown."""
        found = self.entries.get(dimension, {}).get(key)
        return found.name if found else key

    def keys(self, dimension: Dimension) -> frozenset[str]:
        return frozenset(self.entries.get(dimension, {}))

    def extended(self, dimension: Dimension, custom: Iterable[TaxonomyEntry]) -> Taxonomy:
        """A new taxonomy with custom keys added; a custom key's parent must exist."""
        merged = {d: dict(m) for d, m in self.entries.items()}
        target = merged.setdefault(dimension, {})
        for item in custom:
            if item.parent is not None and item.parent not in target:
                raise UnknownKey(dimension, item.parent)
            target[item.key] = item
        return Taxonomy({d: MappingProxyType(m) for d, m in merged.items()})


def covers(declared: str, observed: str) -> bool:
    """True when ``observed`` is ``declared`` or one of its descendants (``a.b`` covers ``a.b.c``)."""
    return observed == declared or observed.startswith(declared + ".")


@cache
def default_taxonomy() -> Taxonomy:
    """fideslang's default taxonomy (data categories, data uses, data subjects)."""
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    entries: dict[Dimension, Mapping[str, TaxonomyEntry]] = {}
    for dim in Dimension:
        items = getattr(DEFAULT_TAXONOMY, dim.value)
        entries[dim] = MappingProxyType(
            {
                i.fides_key: TaxonomyEntry(
                    key=i.fides_key,
                    name=i.name or i.fides_key,
                    parent=getattr(i, "parent_key", None),
                    description=i.description or "",
                )
                for i in items
            }
        )
    return Taxonomy(entries)
