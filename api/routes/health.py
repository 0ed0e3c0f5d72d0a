"""Liveness: no key, no database — the cheapest answer the app can give."""

from __future__ import annotations

from fastapi import APIRouter

from api.schemas.admin import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="the process is up")
async def health() -> HealthOut:
    return HealthOut(status="ok")
