"""Compose the core from settings: policy, pseudonymizer, store and handler."""

from __future__ import annotations

from config import Settings, SettingsError
from graph.pseudonym import Pseudonymizer, key_from_text, load_or_create_key_file, read_key_file
from graph.registry import open_store
from graph.store import GraphStore
from policies import default_policy, load_names, load_policy
from policies.recipients import load_registry
from policies.transfers import RecipientRules
from schemas.parsing import DEFAULT_TIME_WINDOW, TimeWindow
from schemas.policy import Policy
from schemas.recipients import RecipientRegistry
from streams.handler import Handler
from streams.notice_sinks import NoSink, notice_sink
from streams.notify import ErasureNotices, notice_controller


def load_configured_policy(settings: Settings) -> Policy:
    """The configured policy, with the names file's descriptions of systems (LINEAGE_NAMES_FILE) laid over its own."""
    policy = load_policy(settings.policy_file) if settings.policy_file else default_policy()
    if settings.names_file is None:
        return policy
    return policy.model_copy(update={"systems": {**policy.systems, **load_names(settings.names_file)}})


def load_configured_registry(settings: Settings) -> RecipientRegistry | None:
    """The recipient registry of LINEAGE_RECIPIENTS, or None when none is set."""
    return load_registry(settings.recipients_file) if settings.recipients_file else None


def pseudonymizer(settings: Settings, *, create: bool = True) -> Pseudonymizer:
    """The pseudonymizer of the configured key; without ``create``, a key file that does not exist is an error."""
    if settings.pseudonym_key:
        return Pseudonymizer(key_from_text(settings.pseudonym_key, origin="LINEAGE_PSEUDONYM_KEY"))
    read = load_or_create_key_file if create else read_key_file
    return Pseudonymizer(read(settings.pseudonym_key_file))


def open_configured_store(settings: Settings, *, existing: bool = False) -> GraphStore:
    """The configured store; with ``existing`` (commands that only read), one that does not exist is an error."""
    return open_store(settings.store, settings, existing=existing)


def event_window(settings: Settings) -> TimeWindow:
    """The occurred_at window readers accept: LINEAGE_EVENT_TIME_MIN / _MAX, each defaulting to the contract's."""
    try:
        return TimeWindow(
            settings.event_time_min or DEFAULT_TIME_WINDOW.earliest,
            settings.event_time_max or DEFAULT_TIME_WINDOW.latest,
        )
    except ValueError as exc:
        raise SettingsError(f"LINEAGE_EVENT_TIME_MIN/MAX: {exc}") from None


def erasure_notices(settings: Settings, policy: Policy, registry: RecipientRegistry | None) -> ErasureNotices | None:
    """What sends the Art. 19 notices of the erasures events bring (LINEAGE_NOTIFY_ERASURES), or None when it is off;
    a sink that is unknown or not configured is a settings error, said before anything is applied."""
    if settings.notify_erasures is None:
        return None
    try:
        sink = notice_sink(settings, settings.notify_erasures or None)
    except NoSink as exc:
        raise SettingsError(f"LINEAGE_NOTIFY_ERASURES: {exc}") from None
    return ErasureNotices(sink, registry, notice_controller(policy, settings.notice_contact))


def build_handler(settings: Settings, store: GraphStore | None = None, *, notify: bool = False) -> Handler:
    """The handler of the configured policy, key, window and registry; with ``notify`` (the runners that apply
    producers' events: ingest, the worker) it sends erasures' Art. 19 notices as LINEAGE_NOTIFY_ERASURES says."""
    window = event_window(settings)  # a bad window is refused before the store is opened
    policy, registry = load_configured_policy(settings), load_configured_registry(settings)
    rules = RecipientRules(registry)
    notices = erasure_notices(settings, policy, registry) if notify else None
    return Handler(store or open_configured_store(settings), policy, pseudonymizer(settings), window, rules, notices)
