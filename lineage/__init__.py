"""The shell: the `lineage` command line, settings and wiring of schemas, graph and streams."""
