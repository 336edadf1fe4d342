"""HTTP API of qa-engine (FastAPI). Run: `uvicorn --factory api.main:create_app`."""
