"""Alerts: the dispatcher that notifies sinks, the sinks, the notices they send, and the alert fast path."""
