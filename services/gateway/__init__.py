"""Gateway: HTTP API, SSE and web UI; workspaces, API keys and the lead_view read model."""
