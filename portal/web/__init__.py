"""The server-rendered pages (zh-CN first, English)."""

from __future__ import annotations

from fastapi import APIRouter


def build_router() -> APIRouter:
    """Every page route."""
    return APIRouter()
