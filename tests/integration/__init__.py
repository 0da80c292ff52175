"""Integration tests against real NATS/PostgreSQL servers started by fixtures."""
