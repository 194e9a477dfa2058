"""Regulator and data-subject reports built from the GraphStore's named queries and the policy, and their formats."""
