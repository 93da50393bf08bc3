"""The HTTP API: jobs, downloads, errors for bad input, limits, restarts (a fake matcher; one
real match on the engine)."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi", reason="the service needs the [service] extra (fastapi, uvicorn)")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
pytest.importorskip("multipart", reason="uploads need python-multipart")

from fastapi.testclient import TestClient

from synthmatch.render.probe import Probe
from synthmatch.search.match import MatchResult
from synthmatch.search.proposals import Origin
from synthmatch.search.stages import Candidate
from synthmatch.service import ServiceConfig, create_app
from synthmatch.service.app import RateLimiter
from synthmatch.service.store import Job, JobStore
from synthmatch.service.validation import display_name, sniff_audio
from synthmatch.vital.preset import Preset

SR = 44100


def _wav(seconds: float = 0.5, *, sr: int = SR, channels: int = 1, f0: float = 220.0) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * f0 * t) * np.exp(-3 * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    buf = io.BytesIO()
    sf.write(buf, data, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class FakeMatcher:
    """Answers at once with the init preset; records calls; can be slowed to test cancel."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[dict] = []
        self.pool = None

    def match(self, path, *, budget, progress=None, note=None, candidates=3):
        self.calls.append({"budget": budget, "note": note, "candidates": candidates})
        probe = Probe(note=60, note_seconds=0.4, render_seconds=0.8)
        audio = np.zeros(probe.n_samples, np.float32)
        interrupted = False
        done = 0
        for k in range(budget if budget else 0):
            if self.delay_s:
                time.sleep(self.delay_s)
            if progress is not None:
                try:
                    progress(k + 1, budget)
                except KeyboardInterrupt:
                    interrupted = True
                    break
            done = k + 1
        cands = [
            Candidate(
                Preset.init(),
                audio if budget else np.zeros(0, np.float32),
                {"objective": 3.0 + i, "mss_mel": 3.0 + i} if budget else {},
                Origin("library", i),
            )
            for i in range(candidates)
        ]
        return MatchResult(
            target=audio,
            sample_rate=SR,
            probe=probe,
            analysis={"midi_note": 60, "pitched": True, "warnings": ["a test warning"]},
            candidates=cands,
            renders=done,
            timings={"total": 0.01},
            settings={},
            interrupted=interrupted,
        )

    def close(self) -> None:
        pass


def _app(tmp_path, matcher=None, **cfg):
    config = ServiceConfig(data_dir=str(tmp_path / "data"), tutorial=False, **cfg)
    return create_app(config, matcher=matcher or FakeMatcher())


def _wait(client, job_id, *, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        doc = client.get(f"/v1/matches/{job_id}").json()
        if doc["state"] in ("done", "failed", "cancelled", "interrupted"):
            return doc
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {doc}")


def _error(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["status"] == status and body["code"] == code and len(body["message"]) > 20
    return body["message"]


def test_sniffing_and_display_names_ignore_what_the_client_claims():
    assert sniff_audio(_wav()[:64]) == "wav"
    assert sniff_audio(b"fLaC\x00\x00") == "flac" and sniff_audio(b"OggS\x00") == "ogg"
    assert sniff_audio(b"ID3\x03") == "mp3" and sniff_audio(b"\xff\xfb\x90") == "mp3"
    assert sniff_audio(b"FORM\x00\x00\x00\x00AIFF") == "aiff"
    assert sniff_audio(b"<html>") is None and sniff_audio(b'{"x": 1}') is None
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\me\\kick.wav") == "kick.wav"
    assert display_name("a\x00b\nc.wav") == "abc.wav" and display_name("") == "upload"
    assert len(display_name("x" * 500)) == 100


def test_rate_limiter_refills():
    rl = RateLimiter(rate=1000.0, burst=2)
    assert rl.take("a") == 0 and rl.take("a") == 0
    assert rl.take("a") > 0 and rl.take("b") == 0
    time.sleep(0.01)
    assert rl.take("a") == 0
    assert RateLimiter(0, 0).take("x") == 0  # off


def test_a_match_job_runs_and_its_files_download(tmp_path):
    matcher = FakeMatcher()
    with TestClient(_app(tmp_path, matcher)) as client:
        assert client.get("/v1/health").json()["status"] == "ok"
        assert "/v1/matches" in client.get("/openapi.json").json()["paths"]
        docs = client.get("/docs").text
        assert "/openapi.json" in docs and "cdn" not in docs.lower()  # the API page ships with the package
        resp = client.post(
            "/v1/matches",
            files={"file": ("../../evil name.wav", _wav(), "text/plain")},
            data={"budget": "8", "note": "auto", "candidates": "2"},
        )
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["id"]
        doc = _wait(client, job_id)
        assert doc["state"] == "done" and doc["filename"] == "evil name.wav"
        assert doc["progress"] == {"done": 8, "total": 8, "fraction": 1.0}
        assert doc["best"]["score"] == 3.0 and [c["rank"] for c in doc["candidates"]] == [1, 2]
        assert "a test warning" in doc["warnings"]
        assert [c["budget"] for c in matcher.calls] == [0, 8]  # the instant answer first, once
        vital = client.get(doc["files"]["preset"])
        assert vital.status_code == 200 and "attachment" in vital.headers["content-disposition"]
        assert Preset.from_vital(json.loads(vital.content)).values == Preset.init().values
        assert client.get(doc["candidates"][1]["preset_url"]).status_code == 200
        assert client.get(doc["files"]["target"]).headers["content-type"] == "audio/wav"
        listed = client.get("/v1/matches").json()["matches"]
        assert listed[0]["id"] == job_id and listed[0]["best_score"] == 3.0
        events = client.get(f"/v1/matches/{job_id}/events").text
        assert "event: done" in events and job_id in events
        folder = tmp_path / "data" / "jobs" / job_id
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(("upload", "target"))) == [
            "target.wav",
            "upload.wav",
        ]


def test_bad_uploads_get_the_right_status_and_a_message(tmp_path):
    with TestClient(_app(tmp_path, max_upload_bytes=200_000, max_file_seconds=5.0)) as client:
        post = lambda body, name="x.wav", **data: client.post(  # noqa: E731
            "/v1/matches", files={"file": (name, body, "audio/wav")}, data=data
        )
        _error(post(b""), 400, "empty")
        _error(post(b"<html><script>alert(1)</script></html>", name="a.wav"), 415, "not_audio")
        _error(post(b"\x00" * 300_000), 413, "too_large")
        _error(post(_wav(10.0, sr=8000)), 413, "too_long")
        _error(post(_wav()[:44] + b"\x00" * 4), 422, "unusable_audio")  # header only: no samples
        _error(post(np.zeros(4000, np.int16).tobytes()), 415, "not_audio")  # raw PCM, no header
        silent = io.BytesIO()
        sf.write(silent, np.zeros(SR // 2), SR, format="WAV")
        assert "silent" in _error(post(silent.getvalue()), 422, "unusable_audio")
        _error(post(_wav(), budget="0"), 400, "bad_request")
        _error(post(_wav(), budget="100000"), 400, "bad_request")
        _error(post(_wav(), note="../1"), 400, "bad_request")
        _error(client.get("/v1/matches/m_000000000000"), 404, "no_such_match")
        _error(client.get("/v1/matches/../../etc/passwd"), 404, "not_found")
        _error(client.get("/nope"), 404, "not_found")
        assert len(list((tmp_path / "data" / "jobs").iterdir())) == 0  # refused uploads leave nothing
        assert post(_wav()).status_code == 202  # and the server still serves a good request


def test_rate_limits_and_the_queue_bound_answer_429(tmp_path):
    with TestClient(
        _app(tmp_path, FakeMatcher(delay_s=0.05), rate_per_s=1.0, burst=5, max_queued=1)
    ) as client:
        codes = [client.get("/v1/matches").status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[-1] == 429
        msg = _error(client.get("/v1/matches"), 429, "rate_limited")
        assert "try again in" in msg
        assert client.get("/v1/health").status_code == 200  # health is never limited
    with TestClient(_app(tmp_path / "b", FakeMatcher(delay_s=0.2), max_queued=1, rate_per_s=0)) as client:
        codes = [
            client.post("/v1/matches", files={"file": ("a.wav", _wav())}, data={"budget": "20"}).status_code
            for _ in range(4)
        ]
        assert codes[0] == 202 and 429 in codes
        busy = client.post("/v1/matches", files={"file": ("a.wav", _wav())}, data={"budget": "20"})
        assert busy.status_code == 429 and busy.headers["retry-after"]


def test_cancel_keeps_the_best_so_far(tmp_path):
    with TestClient(_app(tmp_path, FakeMatcher(delay_s=0.02))) as client:
        job_id = client.post("/v1/matches", files={"file": ("a.wav", _wav())}, data={"budget": "400"}).json()[
            "id"
        ]
        for _ in range(200):
            if client.get(f"/v1/matches/{job_id}").json()["progress"]["done"] > 2:
                break
            time.sleep(0.02)
        assert client.delete(f"/v1/matches/{job_id}").status_code == 200
        doc = _wait(client, job_id)
        assert doc["state"] == "cancelled" and doc["best"] is not None and doc["files"]["preset"]
        assert doc["progress"]["done"] < 400


def test_a_restart_resumes_or_ends_every_unfinished_job(tmp_path):
    store = JobStore(tmp_path / "data")
    now = time.time()
    for job_id, state, attempts in (
        ("m_aaaaaaaaaaaa", "running", 1),
        ("m_bbbbbbbbbbbb", "running", 2),
        ("m_cccccccccccc", "done", 1),
    ):
        folder = store.folder(job_id)
        folder.mkdir(parents=True)
        (folder / "upload.wav").write_bytes(_wav())
        store.add(
            Job(job_id, "match", state, "a.wav", "upload.wav", now, now, {"budget": 4}, attempts=attempts)
        )
    store.close()
    with TestClient(_app(tmp_path)) as client:
        a = _wait(client, "m_aaaaaaaaaaaa")
        assert a["state"] == "done" and any("resumed after a server restart" in w for w in a["warnings"])
        b = client.get("/v1/matches/m_bbbbbbbbbbbb").json()
        assert b["state"] == "interrupted" and "stopped 2 times" in b["message"]
        assert client.get("/v1/matches/m_cccccccccccc").json()["state"] == "done"
        assert len(client.get("/v1/matches").json()["matches"]) == 3


def test_explain_refuses_what_is_not_a_preset(tmp_path):
    with TestClient(_app(tmp_path)) as client:
        _error(client.post("/v1/explain", files={"file": ("x.vital", b"")}), 400, "empty")
        _error(client.post("/v1/explain", files={"file": ("x.vital", _wav())}), 415, "not_a_preset")
        _error(client.post("/v1/explain", files={"file": ("x.vital", b"{not json")}), 422, "bad_preset")


@pytest.mark.vita
def test_explain_an_uploaded_preset_with_unknown_modulations(tmp_path, render_pool):
    p = Preset.init()
    p.values.update(filter_1_on=1.0, filter_1_cutoff=70.0)
    doc = p.to_vital()
    doc["settings"]["modulations"] = [{"source": "not_a_source", "destination": "filter_1_cutoff"}]
    matcher = FakeMatcher()
    matcher.pool = render_pool
    with TestClient(_app(tmp_path, matcher)) as client:
        resp = client.post("/v1/explain", files={"file": ("p.vital", json.dumps(doc).encode())})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert "<section class='sm-tutorial'>" in body["tutorial"] and body["recipe"]["steps"]
        assert any("not_a_source" in n for n in body["notes"])
