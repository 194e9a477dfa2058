"""The one base of the project's pydantic models: frozen, and no field beyond those declared."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A frozen model that refuses unknown fields; every model of the contract and the API derives from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
