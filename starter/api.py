"""billflow's HTTP API for backend services (FastAPI)."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="billflow", version="0.1.0", description="Stripe billing as durable Temporal workflows.")


@app.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}
