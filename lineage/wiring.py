"""Compose the core from settings: policy, pseudonymizer, store and handler."""

from __future__ import annotations

from config import Settings
from graph.pseudonym import Pseudonymizer, key_from_text, load_or_create_key_file
from graph.registry import open_store
from graph.store import GraphStore
from policies import default_policy, load_policy
from schemas.policy import Policy
from streams.handler import Handler


def load_configured_policy(settings: Settings) -> Policy:
    return load_policy(settings.policy_file) if settings.policy_file else default_policy()


def pseudonymizer(settings: Settings) -> Pseudonymizer:
    if settings.pseudonym_key:
        return Pseudonymizer(key_from_text(settings.pseudonym_key, origin="LINEAGE_PSEUDONYM_KEY"))
    return Pseudonymizer(load_or_create_key_file(settings.pseudonym_key_file))


def open_configured_store(settings: Settings) -> GraphStore:
    return open_store(settings.store, settings)


def build_handler(settings: Settings, store: GraphStore | None = None) -> Handler:
    return Handler(store or open_configured_store(settings), load_configured_policy(settings), pseudonymizer(settings))
