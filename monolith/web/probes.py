"""Liveness and readiness: readiness is this process's own database, nothing upstream."""

from flask import Blueprint, g

bp = Blueprint("probes", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers."""
    return {"status": "ok", "service": "monolith"}


@bp.get("/readyz")
def readyz():
    """The process can reach its database."""
    if g.pool.ping():
        return {"status": "ok", "service": "monolith"}
    return {"status": "unavailable", "service": "monolith"}, 503, {"Retry-After": "1"}
