"""Route modules, one per area; `api.main` mounts them under /v1 (health and metrics at the root)."""
