"""The web service: the page and the HTTP API over the library (``synthmatch serve``).

Public API::

    app = create_app(ServiceConfig(data_dir="data"))   # a FastAPI app; run it with uvicorn

Modules: :mod:`~synthmatch.service.app` (routes), :mod:`~synthmatch.service.jobs` (the queue and
its runners), :mod:`~synthmatch.service.store` (jobs in SQLite), :mod:`~synthmatch.service.validation`
(what uploads may be), :mod:`~synthmatch.service.config` (limits). FastAPI and uvicorn come with
the ``[service]`` extra; importing this package does not need them.
"""

from synthmatch.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
    """:func:`synthmatch.service.app.create_app` (imports FastAPI on first use)."""
    from synthmatch.service.app import create_app as make

    return make(*args, **kwargs)
