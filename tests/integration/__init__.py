"""Tests against real servers (Kafka, Neo4j) started by docker/local/; skipped locally when absent."""
