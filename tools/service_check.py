"""Checks of a running `synthmatch serve` that the unit tests cannot make: load, a killed server,
hostile input over real HTTP. Each starts its own server on 127.0.0.1 with a fresh data folder.

    python tools/service_check.py load --clients 20 --seconds 120 --budget 8
    python tools/service_check.py kill --jobs 4 --budget 16
    python tools/service_check.py hostile
    python tools/service_check.py screenshot docs/images/page.png     # the page after a match (Playwright + Chromium)

Every check prints its figures as JSON (and writes them with ``--json FILE``); the exit status is
1 when a check fails (a lost or failed job, a wrong status, a server that stopped answering).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx
import numpy as np
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOUNDS = sorted((ROOT / "examples" / "sounds").glob("*.wav"))
FINAL = ("done", "failed", "cancelled", "interrupted")


class Server:
    """``synthmatch serve`` in a subprocess on a free port."""

    def __init__(self, data: pathlib.Path, *args: str) -> None:
        self.data, self.args = data, args
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "synthmatch",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
            *self.args,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=open(self.data.parent / "server.log", "ab")
        )
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start; see server.log")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        # the render workers die with their parent (they watch it); give them a moment
        time.sleep(1.0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _submit(client: httpx.Client, url: str, sound: pathlib.Path, budget: int) -> httpx.Response:
    with open(sound, "rb") as f:
        return client.post(
            url + "/v1/matches", files={"file": (sound.name, f, "audio/wav")}, data={"budget": str(budget)}
        )


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


# ---------------------------------------------------------------------------------------------
def check_load(args: argparse.Namespace, work: pathlib.Path) -> dict[str, Any]:
    server = Server(
        work / "data", "--rate", "0", "--uploads-per-min", "0", "--max-queued", str(args.max_queued)
    ).start()
    accepted: dict[str, dict[str, float]] = {}
    counts = {"submitted": 0, "accepted": 0, "queue_full": 0, "other_status": 0, "http_errors": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds
    max_queued_seen = [0]

    def client_loop(k: int) -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop_at:
                sound = SOUNDS[k % len(SOUNDS)]
                t0 = time.monotonic()
                try:
                    r = _submit(client, server.url, sound, args.budget)
                except httpx.HTTPError:
                    with lock:
                        counts["http_errors"] += 1
                    continue
                with lock:
                    counts["submitted"] += 1
                if r.status_code == 429:
                    with lock:
                        counts["queue_full"] += 1
                    time.sleep(min(float(r.headers.get("retry-after", "5")), 5.0))
                    continue
                if r.status_code != 202:
                    with lock:
                        counts["other_status"] += 1
                    continue
                job_id = r.json()["id"]
                rec = {"t0": t0}
                with lock:
                    counts["accepted"] += 1
                    accepted[job_id] = rec
                while time.monotonic() < stop_at + args.grace:
                    doc = client.get(f"{server.url}/v1/matches/{job_id}").json()
                    if "first" not in rec and doc.get("best") is not None:
                        rec["first"] = time.monotonic() - t0
                    if doc["state"] in FINAL:
                        rec["final"] = time.monotonic() - t0
                        rec["state"] = doc["state"]
                        break
                    time.sleep(0.5)

    def watch_queue() -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < stop_at + args.grace:
                try:
                    q = client.get(server.url + "/v1/health").json()["queue"]
                    max_queued_seen[0] = max(max_queued_seen[0], q["queued"])
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
    watcher = threading.Thread(target=watch_queue, daemon=True)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every accepted job must be listed and reach a final state
    with httpx.Client(timeout=30) as client:
        listed = {
            m["id"]: m["state"] for m in client.get(server.url + "/v1/matches?limit=200").json()["matches"]
        }
    server.stop()
    states = [rec.get("state", listed.get(j, "lost")) for j, rec in accepted.items()]
    firsts = [rec["first"] for rec in accepted.values() if "first" in rec]
    finals = [rec["final"] for rec in accepted.values() if "final" in rec]
    return {
        "check": "load",
        "clients": args.clients,
        "seconds": args.seconds,
        "budget": args.budget,
        "max_queued": args.max_queued,
        **counts,
        "states": {s: states.count(s) for s in sorted(set(states))},
        "lost": sum(j not in listed for j in accepted),
        "unfinished": sum(s not in FINAL for s in states),
        "max_queued_seen": max_queued_seen[0],
        "first_result_s": {"p50": _pct(firsts, 0.5), "p95": _pct(firsts, 0.95), "n": len(firsts)},
        "done_s": {"p50": _pct(finals, 0.5), "p95": _pct(finals, 0.95), "n": len(finals)},
        "ok": counts["other_status"] == 0
        and all(s == "done" for s in states)
        and max_queued_seen[0] <= args.max_queued,
    }


# ---------------------------------------------------------------------------------------------
def check_kill(args: argparse.Namespace, work: pathlib.Path) -> dict[str, Any]:
    data = work / "data"
    server = Server(data, "--rate", "0", "--uploads-per-min", "0").start()
    with httpx.Client(timeout=30) as client:
        ids = [
            _submit(client, server.url, SOUNDS[k % len(SOUNDS)], args.budget).json()["id"]
            for k in range(args.jobs)
        ]
        end = time.monotonic() + 120
        while time.monotonic() < end:
            states = [client.get(f"{server.url}/v1/matches/{j}").json()["state"] for j in ids]
            if "running" in states:
                break
            time.sleep(0.2)
        time.sleep(args.kill_after)
        before = {j: client.get(f"{server.url}/v1/matches/{j}").json()["state"] for j in ids}
    server.kill()
    server = Server(data, "--rate", "0", "--uploads-per-min", "0").start()
    with httpx.Client(timeout=30) as client:
        after_restart = {
            m["id"]: m["state"] for m in client.get(server.url + "/v1/matches").json()["matches"]
        }
        messages = {j: client.get(f"{server.url}/v1/matches/{j}").json()["message"] for j in ids}
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            final = {j: client.get(f"{server.url}/v1/matches/{j}").json()["state"] for j in ids}
            if all(s in FINAL for s in final.values()):
                break
            time.sleep(1.0)
    server.stop()
    return {
        "check": "kill",
        "jobs": args.jobs,
        "before_kill": before,
        "listed_after_restart": {j: after_restart.get(j, "missing") for j in ids},
        "messages_after_restart": messages,
        "final": final,
        "ok": all(j in after_restart for j in ids) and all(s == "done" for s in final.values()),
    }


# ---------------------------------------------------------------------------------------------
def _wav_bytes(seconds: float, sr: int = 44100) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, 0.4 * np.sin(2 * np.pi * 220 * t) * np.exp(-2 * t), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def check_hostile(args: argparse.Namespace, work: pathlib.Path) -> dict[str, Any]:
    server = Server(work / "data", "--quick-tutorial").start()
    good = _wav_bytes(0.6)
    ten_minutes = io.BytesIO()
    sf.write(ten_minutes, np.zeros(600 * 8000, np.int16), 8000, format="WAV", subtype="PCM_16")
    bad_vital = json.dumps(
        {
            "preset_name": "x",
            "settings": {"modulations": [{"source": "no_such_lfo", "destination": "nowhere"}]},
        }
    ).encode()
    cases = [
        ("oversize (25 MB)", "/v1/matches", "big.wav", b"RIFF" + b"\0" * 25_000_000, 413),
        ("zero bytes", "/v1/matches", "empty.wav", b"", 400),
        ("truncated WAV (200 bytes)", "/v1/matches", "cut.wav", good[:200], 422),
        ("not audio (a PNG named .wav)", "/v1/matches", "pic.wav", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 415),
        ("a 10-minute file", "/v1/matches", "long.wav", ten_minutes.getvalue(), 413),
        ("path-like file name", "/v1/matches", "../../../etc/passwd", good, 202),
        ("a .vital with unknown modulation names", "/v1/explain", "bad.vital", bad_vital, 200),
        ("a .vital that is not JSON", "/v1/explain", "bad.vital", b"{\x00\x01", 422),
    ]
    results = []
    with httpx.Client(timeout=120) as client:
        for name, route, filename, body, want in cases:
            r = client.post(server.url + route, files={"file": (filename, body, "application/octet-stream")})
            msg = r.json().get("error", {}).get("message", "") if r.status_code >= 400 else ""
            results.append(
                {
                    "case": name,
                    "status": r.status_code,
                    "want": want,
                    "ok": r.status_code == want,
                    "message": msg,
                }
            )
        escaped = (
            not any((work / "data").rglob("passwd")) and not pathlib.Path("/etc/passwd").stat().st_size == 0
        )
        statuses: dict[int, int] = {}
        t0 = time.monotonic()
        for _ in range(1000):
            code = client.get(server.url + "/v1/matches").status_code
            statuses[code] = statuses.get(code, 0) + 1
        rapid_s = time.monotonic() - t0
        time.sleep(7.0)  # the client's bucket refills
        after = client.post(
            server.url + "/v1/matches", files={"file": ("ok.wav", good, "audio/wav")}, data={"budget": "4"}
        ).status_code
        health = client.get(server.url + "/v1/health").status_code
    server.stop()
    return {
        "check": "hostile",
        "cases": results,
        "no_file_outside_the_data_folder": escaped,
        "rapid_1000_requests": {"statuses": statuses, "seconds": round(rapid_s, 2)},
        "good_request_after": after,
        "health_after": health,
        "ok": all(c["ok"] for c in results) and 429 in statuses and after == 202 and health == 200,
    }


def check_screenshot(args: argparse.Namespace, work: pathlib.Path) -> dict[str, Any]:
    """Match a bundled sound through the page in headless Chromium and save the result page."""
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    if chromium is None:
        raise SystemExit("no Chromium found. Hint: apt-get install chromium")
    server = Server(work / "data", "--rate", "0").start()
    out = pathlib.Path(args.png).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": args.width, "height": 900})
        page.goto(server.url + "/")
        page.click("#options summary")
        page.fill("#budget", str(args.budget))
        page.set_input_files("#file-input", str(ROOT / "examples" / "sounds" / args.sound))
        page.click("#submit")
        page.wait_for_selector("#result[data-state='done']", state="visible", timeout=600_000)
        page.wait_for_timeout(1500)  # the spectrograms draw
        clip = {"x": 0, "y": 0, "width": args.width, "height": args.max_height} if args.max_height else None
        page.screenshot(path=str(out), full_page=True, clip=clip)
        browser.close()
    server.stop()
    return {
        "check": "screenshot",
        "png": str(out),
        "seconds": round(time.monotonic() - t0, 1),
        "ok": out.is_file(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="check", required=True)
    load = sub.add_parser("load")
    load.add_argument("--clients", type=int, default=20)
    load.add_argument("--seconds", type=float, default=120.0)
    load.add_argument("--budget", type=int, default=8)
    load.add_argument("--max-queued", type=int, default=16)
    load.add_argument(
        "--grace", type=float, default=600.0, help="time after the end for accepted jobs to finish"
    )
    kill = sub.add_parser("kill")
    kill.add_argument("--jobs", type=int, default=4)
    kill.add_argument("--budget", type=int, default=16)
    kill.add_argument("--kill-after", type=float, default=1.0, help="seconds into the first running job")
    kill.add_argument(
        "--seconds", type=float, default=600.0, help="time for every job to finish after the restart"
    )
    sub.add_parser("hostile")
    shot = sub.add_parser("screenshot")
    shot.add_argument("png")
    shot.add_argument("--sound", default="pluck_c4.wav")
    shot.add_argument("--budget", type=int, default=64)
    shot.add_argument("--width", type=int, default=1200)
    shot.add_argument("--max-height", type=int, default=1560, help="crop to the top (0: the whole page)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        fn = {
            "load": check_load,
            "kill": check_kill,
            "hostile": check_hostile,
            "screenshot": check_screenshot,
        }[args.check]
        out = fn(args, work)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(text)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
