"""The HTTP API and the page: a thin FastAPI layer over the library (:func:`create_app`).

Routes (OpenAPI at ``/docs``): ``POST /v1/matches`` (upload → job), ``GET /v1/matches[/{id}]``,
``GET /v1/matches/{id}/events`` (server-sent events), downloads under ``/v1/matches/{id}/``,
``DELETE /v1/matches/{id}`` (cancel), ``POST /v1/explain`` (a ``.vital`` → its tutorial),
``GET /v1/health``, and the page at ``/``. Every error is JSON:
``{"error": {"status", "code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from synthmatch.service.config import ServiceConfig
from synthmatch.service.jobs import JobRunner, job_files
from synthmatch.service.store import Job, JobStore
from synthmatch.service.validation import (
    AUDIO_FORMATS,
    ServiceError,
    display_name,
    human_bytes,
    sniff_audio,
    sniff_preset,
)

__all__ = ["ServiceConfig", "create_app"]

log = logging.getLogger(__name__)
STATIC = pathlib.Path(__file__).resolve().parent / "static"


class RateLimiter:
    """Token buckets per client key: ``rate`` tokens per second up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = float(rate), float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go on, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, t = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - t) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > 10_000:
                self._buckets.popitem(last=False)
            return 0.0


def _error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message}}


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, counting what
    arrives (a client's ``Content-Length`` is checked first but not trusted)."""

    def __init__(self, app: Any, limit: int, shown: int | None = None) -> None:
        self.app, self.limit, self.shown = app, limit, shown or limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = json.dumps(
            _error_body(
                413,
                "too_large",
                f"the upload is larger than {human_bytes(self.shown)}. Hint: upload a one-shot "
                "(a single note, under a minute) as WAV, FLAC, Ogg, MP3 or AIFF.",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def create_app(config: ServiceConfig | None = None, *, matcher: Any = None) -> Any:
    """The FastAPI application (its ``state.runner`` runs the jobs; started with the app).
    ``matcher`` replaces the :class:`~synthmatch.search.match.Matcher` the jobs run on."""
    from synthmatch import __version__

    cfg = config or ServiceConfig()
    store = JobStore(cfg.data_dir)
    runner = JobRunner(
        store,
        max_running=cfg.max_running,
        max_queued=cfg.max_queued,
        workers=cfg.workers,
        tutorial=cfg.tutorial,
        matcher=matcher,
    )
    requests_limiter = RateLimiter(cfg.rate_per_s, cfg.burst)
    uploads_limiter = RateLimiter(cfg.uploads_per_min / 60.0, max(1, cfg.uploads_per_min // 2))
    explain_lock = threading.Semaphore(1)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        recovered = runner.start()
        if recovered["resumed"] or recovered["interrupted"]:
            log.warning(
                "after restart: resumed %s, interrupted %s", recovered["resumed"], recovered["interrupted"]
            )
        yield
        runner.stop()
        store.close()

    app = FastAPI(
        title="synthmatch",
        version=__version__,
        description="Turn a sound into a Vital preset that reproduces it, and explain how it is built.",
        lifespan=lifespan,
        # FastAPI's own /docs loads Swagger UI from a CDN; this server ships its own page
        docs_url=None,
        redoc_url=None,
    )
    app.state.runner = runner
    app.state.store = store
    # multipart framing and the form fields ride on top of the file itself
    app.add_middleware(
        BodyLimit, limit=max(cfg.max_upload_bytes, cfg.max_preset_bytes) + 65_536, shown=cfg.max_upload_bytes
    )
    app.state.config = cfg

    # -- errors --------------------------------------------------------------------------
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(_error_body(exc.status, exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"nothing at {request.url.path}. Hint: the API is under /v1 (see /docs)."
        return JSONResponse(_error_body(exc.status_code, code, message), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {e.get('msg')}")
        message = "; ".join(parts) + ". Hint: see /docs for the fields and their ranges."
        return JSONResponse(_error_body(400, "bad_request", message), 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(
            _error_body(
                500, "internal", f"the server failed ({type(exc).__name__}); the request was not applied."
            ),
            500,
        )

    @app.middleware("http")
    async def _rate_limit(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1/") and request.url.path != "/v1/health":
            wait = requests_limiter.take(_client(request))
            if wait > 0:
                return _too_many(wait, "requests")
        return await call_next(request)

    # -- helpers -------------------------------------------------------------------------
    def job_json(job: Job) -> dict[str, Any]:
        base = f"/v1/matches/{job.id}"
        folder = store.folder(job.id)
        have = job_files(folder)
        res = job.result or {}
        cands = []
        for c in res.get("candidates", []):
            k = c["rank"]
            c = {**c, "preset_url": f"{base}/candidates/{k}.vital"}
            if c.get("rendered"):
                c["audio_url"] = f"{base}/candidates/{k}.wav"
            cands.append(c)
        files = {}
        for key, name, route in (
            ("target", "target.wav", "target.wav"),
            ("preset", "preset.vital", "preset.vital"),
            ("audio", "match.wav", "match.wav"),
            ("tutorial", "tutorial.html", "tutorial"),
            ("tutorial_md", "tutorial.md", "tutorial.md"),
            ("report", "report.html", "report"),
        ):
            if have.get(name):
                files[key] = f"{base}/{route}"
        total = max(job.total, 1)
        return {
            "id": job.id,
            "state": job.state,
            "filename": job.filename,
            "created": job.created,
            "updated": job.updated,
            "options": job.options,
            "progress": {
                "done": job.done,
                "total": job.total,
                "fraction": round(min(job.done / total, 1.0), 4),
            },
            "message": job.message,
            "warnings": job.warnings,
            "error": job.error,
            "best": res.get("best"),
            "provisional": bool(res.get("provisional")),
            "analysis": res.get("analysis"),
            "renders": res.get("renders"),
            "candidates": cands,
            "files": files,
            "url": base,
        }

    def get_job(job_id: str) -> Job:
        try:
            return store.get(job_id)
        except KeyError:
            raise ServiceError(
                404, "no_such_match", f"there is no match {job_id!r}. Hint: GET /v1/matches lists them."
            ) from None

    def job_file(job_id: str, name: str, *, media: str, download: str | None = None) -> FileResponse:
        job = get_job(job_id)
        path = store.folder(job.id) / name
        if not path.is_file():
            raise ServiceError(
                404,
                "not_ready",
                f"{name} of match {job_id} is not there (state {job.state}). Hint: wait for the state 'done'.",
            )
        if download is None:
            return FileResponse(path, media_type=media)
        stem = pathlib.Path(job.filename).stem or "sound"
        return FileResponse(path, media_type=media, filename=f"{stem}_{download}")

    # -- page ----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> Any:
        page = STATIC / "index.html"
        if not page.is_file():
            return HTMLResponse("<h1>synthmatch</h1><p>The page is not installed; the API is at /docs.</p>")
        return FileResponse(page, media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Any:
        return FileResponse(STATIC / "api.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Any:
        from fastapi import Response

        return Response(status_code=204)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Any:
        media = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in media or not path.is_file():
            raise ServiceError(404, "not_found", f"no static file {name!r}")
        return FileResponse(path, media_type=media[path.suffix])

    # -- API -----------------------------------------------------------------------------
    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        """The server's state: version, queue, limits."""
        return {
            "status": "ok",
            "version": __version__,
            "queue": {
                "queued": store.count("queued"),
                "running": store.count("running"),
                "max_queued": cfg.max_queued,
                "max_running": cfg.max_running,
            },
            "limits": {
                "max_upload_bytes": cfg.max_upload_bytes,
                "max_seconds": cfg.max_seconds,
                "max_file_seconds": cfg.max_file_seconds,
                "max_budget": cfg.max_budget,
                "max_candidates": cfg.max_candidates,
                "formats": list(AUDIO_FORMATS),
            },
        }

    @app.post("/v1/matches", status_code=202)
    def create_match(
        request: Request,
        file: Annotated[UploadFile, File(description="the sound: WAV, FLAC, Ogg, MP3 or AIFF")],
        budget: Annotated[int, Form(ge=1, description="renders the search may spend")] = 64,
        note: Annotated[str, Form(description='"auto" or the MIDI note 0–127')] = "auto",
        candidates: Annotated[int, Form(ge=1, description="candidates to return")] = 3,
    ) -> dict[str, Any]:
        """Upload a sound to match (multipart): 202 with the job's id; 413/415/422 for bad files, 429 when busy."""
        wait = uploads_limiter.take(_client(request))
        if wait > 0:
            raise _limit_error(wait, "uploads")
        if budget > cfg.max_budget:
            raise ServiceError(400, "bad_request", f"budget {budget} is over this server's {cfg.max_budget}.")
        if candidates > cfg.max_candidates:
            raise ServiceError(400, "bad_request", f"candidates {candidates} is over {cfg.max_candidates}.")
        note = note.strip().lower()
        if note != "auto" and not (note.isdigit() and 0 <= int(note) <= 127):
            raise ServiceError(400, "bad_request", f'note must be "auto" or a MIDI note 0–127, got {note!r}.')
        with runner.admission():
            job_id = store.new_id()
            folder = store.folder(job_id)
            warnings = _store_upload(file, folder, cfg)
            now = time.time()
            job = Job(
                id=job_id,
                kind="match",
                state="queued",
                filename=display_name(file.filename),
                target=next(p.name for p in folder.iterdir() if p.name.startswith("upload.")),
                created=now,
                updated=now,
                options={"budget": budget, "note": note, "candidates": candidates},
                total=budget,
                message="waiting for a free worker",
                warnings=warnings,
                client=_client(request),
            )
            store.add(job)
            runner.submit(job_id)
        return {"id": job_id, "state": "queued", "url": f"/v1/matches/{job_id}"}

    @app.get("/v1/matches")
    def list_matches(limit: int = 50) -> dict[str, Any]:
        """The newest jobs (id, state, file name, best score)."""
        jobs = store.list(limit=max(1, min(limit, 200)))
        return {
            "matches": [
                {
                    "id": j.id,
                    "state": j.state,
                    "filename": j.filename,
                    "created": j.created,
                    "best_score": ((j.result or {}).get("best") or {}).get("score"),
                    "url": f"/v1/matches/{j.id}",
                }
                for j in jobs
            ]
        }

    @app.get("/v1/matches/{job_id}")
    def read_match(job_id: str) -> dict[str, Any]:
        """A job: state, progress, best, candidates, warnings, the URLs of its files."""
        return job_json(get_job(job_id))

    @app.delete("/v1/matches/{job_id}")
    def cancel_match(job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; it keeps its best result so far."""
        get_job(job_id)
        runner.cancel(job_id)
        return job_json(get_job(job_id))

    @app.get("/v1/matches/{job_id}/events")
    async def match_events(job_id: str) -> StreamingResponse:
        """Server-sent events: 'progress' with the job JSON on each change, then its final state."""
        get_job(job_id)

        async def stream() -> Any:
            version = -1
            last = None
            while True:
                version = await asyncio.to_thread(store.wait_change, version, 10.0)
                job = store.get(job_id)
                doc = job_json(job)
                key = json.dumps([doc["state"], doc["progress"], doc["message"], doc["best"]], default=str)
                if key != last:
                    last = key
                    event = job.state if job.final else "progress"
                    yield f"event: {event}\ndata: {json.dumps(doc)}\n\n"
                else:
                    yield ": keep-alive\n\n"
                if job.final:
                    return

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/v1/matches/{job_id}/preset.vital")
    def download_preset(job_id: str) -> FileResponse:
        return job_file(job_id, "preset.vital", media="application/json", download="synthmatch.vital")

    @app.get("/v1/matches/{job_id}/match.wav")
    def download_audio(job_id: str) -> FileResponse:
        return job_file(job_id, "match.wav", media="audio/wav")

    @app.get("/v1/matches/{job_id}/target.wav")
    def download_target(job_id: str) -> FileResponse:
        return job_file(job_id, "target.wav", media="audio/wav")

    @app.get("/v1/matches/{job_id}/candidates/{k}.vital")
    def download_candidate(job_id: str, k: int) -> FileResponse:
        return job_file(
            job_id,
            f"candidates/candidate_{k}.vital",
            media="application/json",
            download=f"candidate_{k}.vital",
        )

    @app.get("/v1/matches/{job_id}/candidates/{k}.wav")
    def download_candidate_audio(job_id: str, k: int) -> FileResponse:
        return job_file(job_id, f"candidates/candidate_{k}.wav", media="audio/wav")

    @app.get("/v1/matches/{job_id}/tutorial")
    def tutorial_fragment(job_id: str) -> Any:
        job = get_job(job_id)
        path = store.folder(job.id) / "tutorial.html"
        if not path.is_file():
            raise ServiceError(
                404, "not_ready", f"the tutorial of match {job_id} is not written yet (state {job.state})."
            )
        from synthmatch.explain.tutorial_html import section_of_page

        return HTMLResponse(section_of_page(path.read_text(encoding="utf-8")))

    @app.get("/v1/matches/{job_id}/tutorial.md")
    def tutorial_markdown(job_id: str) -> FileResponse:
        return job_file(job_id, "tutorial.md", media="text/markdown", download="tutorial.md")

    @app.get("/v1/matches/{job_id}/report")
    def report_page(job_id: str) -> FileResponse:
        return job_file(job_id, "report.html", media="text/html")

    @app.post("/v1/explain")
    def explain(
        request: Request, file: Annotated[UploadFile, File(description="a .vital preset")]
    ) -> dict[str, Any]:
        """A .vital preset's tutorial (measured tiers as HTML and Markdown) and recipe."""
        wait = uploads_limiter.take(_client(request))
        if wait > 0:
            raise _limit_error(wait, "uploads")
        data = file.file.read(cfg.max_preset_bytes + 1)
        if not data:
            raise ServiceError(
                400, "empty", "the upload is empty (0 bytes). Hint: choose the .vital file again."
            )
        if len(data) > cfg.max_preset_bytes:
            raise ServiceError(
                413, "too_large", f"a preset may be at most {human_bytes(cfg.max_preset_bytes)}."
            )
        sniff_preset(data)
        if not explain_lock.acquire(timeout=60):
            raise ServiceError(
                429,
                "busy",
                "another explanation is running. Hint: try again in a minute.",
                {"Retry-After": "30"},
            )
        try:
            return _explain(data, display_name(file.filename), runner)
        finally:
            explain_lock.release()

    return app


def _client(request: Any) -> str:
    return request.client.host if request.client else "unknown"


def _limit_error(wait: float, what: str) -> ServiceError:
    seconds = max(1, int(wait + 0.999))
    return ServiceError(
        429,
        "rate_limited",
        f"too many {what} from this client; try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def _too_many(wait: float, what: str) -> Any:
    err = _limit_error(wait, what)
    return JSONResponse(_error_body(err.status, err.code, err.message), err.status, headers=err.headers)


def _store_upload(file: Any, folder: pathlib.Path, cfg: ServiceConfig) -> list[str]:
    """Check an upload (content, size, length, the library's audio checks) and store it as
    ``upload.<format>`` and ``target.wav`` in ``folder``; returns the loader's warnings."""
    import soundfile as sf

    from synthmatch.audio.io import load_audio, save_wav
    from synthmatch.errors import AudioError

    if file.size is not None and file.size > cfg.max_upload_bytes:
        raise ServiceError(
            413,
            "too_large",
            f"the upload is {human_bytes(file.size)}; this server takes at most {human_bytes(cfg.max_upload_bytes)}. "
            "Hint: upload a one-shot (a single note of a few seconds).",
        )
    head = file.file.read(64)
    if not head:
        raise ServiceError(
            400,
            "empty",
            "the upload is empty (0 bytes). Hint: choose the file again; it may not have finished saving.",
        )
    kind = sniff_audio(head)
    if kind is None:
        raise ServiceError(
            415,
            "not_audio",
            "this file is not audio synthmatch reads (its content is not WAV, FLAC, Ogg, MP3 or AIFF, "
            "whatever its name says). Hint: export the sound as a WAV file.",
        )
    folder.mkdir(parents=True, exist_ok=False)
    upload = folder / f"upload.{kind}"
    with open(upload, "wb") as out:
        out.write(head)
        while chunk := file.file.read(1 << 20):
            out.write(chunk)
            if out.tell() > cfg.max_upload_bytes:
                raise ServiceError(
                    413, "too_large", f"the upload is larger than {human_bytes(cfg.max_upload_bytes)}."
                )
    try:
        info = sf.info(str(upload))
        seconds = info.frames / float(info.samplerate) if info.samplerate else 0.0
    except Exception:
        seconds = 0.0  # the loader below says what is wrong
    if seconds > cfg.max_file_seconds:
        _remove(folder)
        raise ServiceError(
            413,
            "too_long",
            f"the file is {_clock(seconds)} long; this server takes at most {_clock(cfg.max_file_seconds)}. "
            "Hint: cut one note (a one-shot of a few seconds) and upload that.",
        )
    try:
        loaded = load_audio(str(upload), max_seconds=cfg.max_seconds)
    except AudioError as exc:
        _remove(folder)
        raise ServiceError(422, "unusable_audio", _without_path(str(exc), upload)) from None
    except Exception as exc:
        _remove(folder)
        raise ServiceError(
            422,
            "unusable_audio",
            f"the file could not be decoded ({type(exc).__name__}). Hint: export it again as WAV.",
        ) from None
    save_wav(folder / "target.wav", loaded.samples, loaded.sample_rate)
    return list(loaded.warnings)


def _without_path(message: str, path: pathlib.Path) -> str:
    """A library message without the server's own path of the upload."""
    return message.replace(f"{path}: ", "").replace(str(path), "the upload")


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d} min" if m else f"{s} s"


def _remove(folder: pathlib.Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _explain(data: bytes, name: str, runner: JobRunner) -> dict[str, Any]:
    from synthmatch.errors import SynthmatchError
    from synthmatch.explain.figures import figures_for
    from synthmatch.explain.tutorial import render_markdown, tutorial_recipe
    from synthmatch.explain.tutorial_html import tutorial_section
    from synthmatch.vital.preset import Preset

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "upload.vital"
        path.write_bytes(data)
        try:
            preset = Preset.from_file(path)
        except SynthmatchError as exc:
            raise ServiceError(422, "bad_preset", _without_path(str(exc), path)) from None
        except (ValueError, OSError) as exc:
            raise ServiceError(
                422, "bad_preset", f"this preset could not be read ({type(exc).__name__})."
            ) from None
    try:
        recipe = tutorial_recipe(preset, pool=runner.matcher.pool)
    except SynthmatchError as exc:
        raise ServiceError(422, "bad_preset", str(exc)) from None
    return {
        "title": recipe.title,
        "filename": name,
        "notes": list(preset.issues),
        "tutorial": tutorial_section(recipe, figures_for(preset)),
        "tutorial_md": render_markdown(recipe),
        "recipe": recipe.to_dict(),
    }
