"""The web console: an HTTP API and a page over the GraphStore, with token roles and an audit trail of lookups."""
