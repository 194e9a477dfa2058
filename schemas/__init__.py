"""The public contract of privacy-lineage: pydantic models only (events, policy, answers, taxonomy keys)."""
