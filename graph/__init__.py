"""The lineage graph: projection of events to graph changes, the GraphStore seam and its stores, compliance."""
