"""The limits and resources of one server, declared once (``synthmatch serve`` flags read them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServiceConfig"]


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and resources of one server (``synthmatch serve`` flags)."""

    data_dir: str = "synthmatch-data"
    workers: int | None = None
    max_running: int = 1
    max_queued: int = 16
    max_upload_bytes: int = 20_000_000
    max_file_seconds: float = 120.0
    max_seconds: float = 30.0
    max_budget: int = 512
    max_candidates: int = 8
    max_preset_bytes: int = 5_000_000
    #: Requests per second per client (token bucket of :attr:`burst`); 0 turns limiting off.
    rate_per_s: float = 10.0
    burst: int = 60
    #: Uploads (matches and explains) per minute per client; 0 turns limiting off.
    uploads_per_min: int = 20
    tutorial: bool = True
