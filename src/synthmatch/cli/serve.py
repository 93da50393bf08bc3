"""`synthmatch serve`: the web page and the HTTP API (needs the `[service]` extra)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from synthmatch.cli.args import positive_int
    from synthmatch.service.config import ServiceConfig

    d = ServiceConfig()
    p = sub.add_parser(
        "serve",
        help="serve the web page and the HTTP API (drop a sound in the browser; API docs at /docs)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data", default=d.data_dir, help=f"jobs database and files (default: ./{d.data_dir})")
    p.add_argument(
        "--workers", type=positive_int, default=None, help="render workers (default: usable cores)"
    )
    p.add_argument("--max-running", type=positive_int, default=d.max_running, help="matches run side by side")
    p.add_argument(
        "--max-queued", type=positive_int, default=d.max_queued, help="matches waiting at most (then 429)"
    )
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 1e6, help="largest upload, MB")
    p.add_argument(
        "--max-budget", type=positive_int, default=d.max_budget, help="most renders a match may ask for"
    )
    p.add_argument(
        "--rate", type=float, default=d.rate_per_s, help="API requests per second per client (0: no limit)"
    )
    p.add_argument(
        "--uploads-per-min",
        type=int,
        default=d.uploads_per_min,
        help="uploads per minute per client (0: no limit)",
    )
    p.add_argument("--quick-tutorial", action="store_true", help="tutorials without the ablation renders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        from synthmatch.errors import SynthmatchError

        raise SynthmatchError(
            'synthmatch serve needs FastAPI and uvicorn. Hint: pip install -e ".[service]"'
        ) from None
    from synthmatch.service.app import create_app
    from synthmatch.service.config import ServiceConfig

    cfg = ServiceConfig(
        data_dir=args.data,
        workers=args.workers,
        max_running=args.max_running,
        max_queued=args.max_queued,
        max_upload_bytes=int(args.max_upload_mb * 1e6),
        max_budget=args.max_budget,
        rate_per_s=args.rate,
        uploads_per_min=args.uploads_per_min,
        tutorial=not args.quick_tutorial,
    )
    print(
        f"synthmatch: http://{args.host}:{args.port}/ (API docs at /docs; data in {cfg.data_dir})", flush=True
    )
    uvicorn.run(create_app(cfg), host=args.host, port=args.port, log_level="warning")
    return 0
