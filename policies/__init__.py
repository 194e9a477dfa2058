"""Privacy policies as code: the S Plus Helpdesk Chatbot declaration and the loader that checks a policy file."""

from __future__ import annotations

from pathlib import Path

from policies.loader import load_policy
from policies.names import load_names
from policies.problems import PolicyFileError, PolicyProblem
from schemas.policy import Policy

POLICY_DIR = Path(__file__).resolve().parent
DEFAULT_POLICY_FILE = POLICY_DIR / "s-plus-helpdesk-chatbot.yaml"
SOURCE_DIR = POLICY_DIR / "source"

__all__ = [
    "DEFAULT_POLICY_FILE",
    "POLICY_DIR",
    "SOURCE_DIR",
    "PolicyFileError",
    "PolicyProblem",
    "default_policy",
    "load_names",
    "load_policy",
]


def default_policy() -> Policy:
    """The bundled S Plus Helpdesk Chatbot policy."""
    return load_policy(DEFAULT_POLICY_FILE)
