"""Benchmarks of privacy-lineage against what a user would otherwise write; run with ``python -m bench``."""
