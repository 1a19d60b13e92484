"""HTTP link lists against a real loopback server that fails the way real servers do: 500s, stalls,
truncated bodies, missing files. Nothing half-written may ever be used."""
from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest
from _build_fixtures import write_tone
from _loopback import LoopbackServer

from mom_bench.dataset.download import DownloadError, download

BODY = bytes(range(256)) * 2000  # 512,000 bytes


class Server(LoopbackServer):
    """Routes: /ok, /flaky (two 500s), /stall (first request hangs), /trunc (first body cut in half,
    then honours Range), /norange (truncates once and ignores Range), /missing (404), /files/<name>."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.hits: Counter = Counter()
        self.ranges: list[tuple[str, str | None]] = []
        self.files = files or {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path
                outer.hits[path] += 1
                n = outer.hits[path]
                rng = self.headers.get("Range")
                outer.ranges.append((path, rng))
                body = outer.files.get(path[len("/files/"):]) if path.startswith("/files/") else BODY
                if body is None or path == "/missing":
                    self.send_error(404)
                    return
                if path == "/flaky" and n <= 2:
                    self.send_error(500)
                    return
                if path == "/stall" and n == 1:
                    time.sleep(3)  # longer than the client's timeout
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng and path != "/norange" else 0
                cut = path in ("/trunc", "/norange") and n == 1
                chunk = body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                self.wfile.write(chunk[: len(chunk) // 2] if cut else chunk)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True

        super().__init__(Handler)



@pytest.fixture()
def server():
    with Server() as s:
        yield s


def _get(server, route, dest, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 1.0)
    return download(server.url + route, dest, **kw)


def test_plain_download_with_size_and_checksum(server, tmp_path):
    dest = _get(server, "/ok", tmp_path / "a.mp3", size=len(BODY), sha256=hashlib.sha256(BODY).hexdigest())
    assert dest.read_bytes() == BODY
    assert not (tmp_path / "a.mp3.part").exists()
    _get(server, "/ok", tmp_path / "a.mp3", size=len(BODY))  # already there and matching: no request
    assert server.hits["/ok"] == 1


def test_server_errors_are_retried(server, tmp_path):
    assert _get(server, "/flaky", tmp_path / "f.mp3").read_bytes() == BODY
    assert server.hits["/flaky"] == 3


def test_a_stalled_server_times_out_and_is_retried(server, tmp_path):
    t0 = time.monotonic()
    assert _get(server, "/stall", tmp_path / "s.mp3", timeout=0.5).read_bytes() == BODY
    assert server.hits["/stall"] == 2 and time.monotonic() - t0 < 10


def test_a_truncated_body_resumes_with_range(server, tmp_path):
    assert _get(server, "/trunc", tmp_path / "t.mp3").read_bytes() == BODY
    ranges = [r for p, r in server.ranges if p == "/trunc"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(BODY) // 2}-"


def test_a_server_without_range_support_restarts_from_zero(server, tmp_path):
    assert _get(server, "/norange", tmp_path / "n.mp3").read_bytes() == BODY


def test_client_errors_fail_at_once_and_leave_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        _get(server, "/missing", tmp_path / "m.mp3")
    assert server.hits["/missing"] == 1
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_or_checksum_is_never_renamed_into_place(server, tmp_path):
    with pytest.raises(DownloadError, match="size"):
        _get(server, "/ok", tmp_path / "w.mp3", size=len(BODY) + 1, retries=1)
    with pytest.raises(DownloadError, match="sha256"):
        _get(server, "/ok", tmp_path / "w.mp3", sha256="0" * 64, retries=0)
    assert not (tmp_path / "w.mp3").exists()


def test_only_http_links_are_followed(tmp_path):
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/passwd", tmp_path / "x.mp3")


def test_mom_link_list_rows_are_downloaded_or_reported(tmp_path):
    """A MoM build with --download: Suno rows come from a link list served over loopback; a dead link
    and a YouTube-only real without a local root are reported as missing with their reasons."""
    from mom_bench.dataset import build_benchmark

    audio = {}
    for i in range(3):
        write_tone(tmp_path / f"s{i}.mp3", i, 1.0, ("mp3", 44100, 2))
        audio[f"suno_3_5_{i}.mp3"] = (tmp_path / f"s{i}.mp3").read_bytes()
    man = tmp_path / "manifests"
    man.mkdir()
    (man / "ai_generated_music_metadata.csv").write_text(
        "filename,model_name\n" + "".join(f"suno_3_5_{i}.mp3,suno_3.5\n" for i in range(4)))
    (man / "real_songs_2.csv").write_text("filename,target,split\nreal_00000,0,train\n")
    (man / "real_yt_covers.csv").write_text("filename\n")
    links = tmp_path / "links"
    links.mkdir()
    with Server(audio) as srv:
        with open(links / "suno_3.5_metadata.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["filename", "audio_url"])
            for i in range(4):  # the 4th file does not exist on the server
                w.writerow([f"suno_3_5_{i}.mp3", f"{srv.url}/files/suno_3_5_{i}.mp3"])
        result = build_benchmark("mom", tmp_path / "out", progress=False, source_options={
            "manifests": str(man), "download": True, "links": str(links), "cache": str(tmp_path / "cache"),
            "retries": 0, "timeout": 5})
    assert result.n_written == 3 and result.n_missing == 2
    report = __import__("json").loads((tmp_path / "out" / "build_report.json").read_text())
    reasons = {r["id"]: r["reason"] for r in report["rows"] if r["status"] == "missing"}
    assert "404" in reasons["suno_3_5_3"]
    assert "YouTube-only" in reasons["real_00000"]
    assert not list((tmp_path / "cache").rglob("*.part"))
