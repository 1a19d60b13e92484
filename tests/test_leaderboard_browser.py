"""The rendered leaderboard page in a real browser: headless Chromium driven over the DevTools protocol.

Debian's ``chromium`` is started with a fresh profile and ``--remote-debugging-port=0``; the test talks to
it over a loopback websocket with a minimal client written here on the standard library (no extra
package). It opens index.html, fails on any console error or uncaught exception (a blocked inline script
or style under the page's Content-Security-Policy shows up as one), checks the tables are filled, clicks
column headers with real mouse events and checks the row order changes, and saves a screenshot
(to ``$MOM_BENCH_SCREENSHOT_DIR`` when set, else the test's tmp folder). Skips when chromium is absent.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from mom_bench.leaderboard.render import render
from mom_bench.leaderboard.reported import import_reported
from mom_bench.leaderboard.submit import submit
from tests._fixtures_leaderboard import labels_frame, make_scores, valid_meta

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                                                          "-y --no-install-recommends chromium)"),
              pytest.mark.slow]


# --------------------------------------------------------------------------------------------------
# a minimal DevTools-protocol client (RFC 6455 websocket, text frames only)


class DevTools:
    def __init__(self, ws_url: str, timeout: float = 30.0):
        assert ws_url.startswith("ws://127.0.0.1:"), ws_url  # loopback only
        hostport, _, path = ws_url[len("ws://"):].partition("/")
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            response += chunk
        head, _, self.buffer = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        self.next_id = 0
        self.events: list[dict] = []

    def _recv_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _recv_message(self) -> dict:
        payload = b""
        while True:
            b0, b1 = self._recv_exact(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._recv_exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(length)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode in (0x9, 0xA):  # ping/pong: not used by DevTools
                continue
            payload += data
            if b0 & 0x80:
                return json.loads(payload)

    def _send(self, text: str) -> None:
        data = text.encode()
        header = bytes([0x81])
        n = len(data)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self._send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = self._recv_message()
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while time.monotonic() < deadline:
            message = self._recv_message()
            if message.get("method") == method:
                return message
            self.events.append(message)
        raise TimeoutError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press + release) in the middle of the element."""
        box = self.evaluate(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); "
                            "el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect(); "
                            "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {params['exceptionDetails'].get('text')} "
                           f"{params['exceptionDetails'].get('exception', {}).get('description', '')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        return out


@pytest.fixture()
def browser(tmp_path):
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1400,1000",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next(t for t in targets if t["type"] == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            client.call(f"{domain}.enable")
        yield client
        client.sock.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _open(client: DevTools, path: Path) -> None:
    client.call("Page.navigate", url=path.resolve().as_uri())
    client.wait_for("Page.loadEventFired")


def _screenshot(client: DevTools, name: str, tmp_path: Path) -> Path:
    shot = client.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    folder = Path(os.environ.get("MOM_BENCH_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _column(client: DevTools, table: str, index: int) -> list[str]:
    return client.evaluate(f"Array.from(document.querySelectorAll('#{table} tbody tr'))"
                           f".map(r => r.cells[{index}].textContent.trim())")


# --------------------------------------------------------------------------------------------------


@pytest.fixture()
def board(tmp_path, mom_build):
    """A leaderboard with three reproduced rows on the test build of `mom` plus the repo's reported rows."""
    data_dir = mom_build
    root = tmp_path / "lb"
    labels = labels_frame(data_dir)
    for seed, name in ((1, "Zeta Detector"), (2, "alpha detector"), (3, "Mid Detector")):
        scores = make_scores(labels, seed=seed)
        pred = tmp_path / f"{seed}.csv"
        scores.to_csv(pred, index=False)
        submit(pred, valid_meta(model_name=name), "mom", data_dir=data_dir, root=root, n_bootstrap=100)
    if (REPO / "baselines").is_dir():
        import_reported(REPO / "baselines", root)
    render(root)
    return root


def test_page_sorts_and_has_no_console_errors(browser, board, tmp_path):
    _open(browser, board / "index.html")
    assert browser.evaluate("document.documentElement.getAttribute('data-sortable-ready')") not in (None, "0")
    n_rows = browser.evaluate("document.querySelectorAll('#board-mom tbody tr').length")
    assert n_rows >= 3
    assert browser.evaluate("document.querySelectorAll('#heat-mom tbody td.heat').length") > 0
    assert browser.evaluate("document.querySelectorAll('#board-mom .badge-reproduced').length") == 3

    names = _column(browser, "board-mom", 1)
    browser.click("#board-mom th[data-key=model]")
    by_name = _column(browser, "board-mom", 1)
    assert by_name != names and by_name == sorted(names, key=str.lower)
    assert browser.evaluate("document.querySelector('#board-mom th[data-key=model]').getAttribute('aria-sort')") \
        == "ascending"

    browser.click("#board-mom th[data-key=f1]")
    f1 = [float(v) if v else None for v in _column(browser, "board-mom", 3)]
    present = [v for v in f1 if v is not None]
    assert present == sorted(present, reverse=True) and f1[:len(present)] == present  # blanks last
    browser.click("#board-mom th[data-key=f1]")
    f1_up = [float(v) if v else None for v in _column(browser, "board-mom", 3)]
    assert [v for v in f1_up if v is not None] == sorted(present) and f1_up[:len(present)] == sorted(present)

    shot = _screenshot(browser, "leaderboard-test.png", tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert browser.errors() == []


def test_page_refuses_what_it_did_not_ship(browser, board, tmp_path):
    """The CSP lets only the page's own inline blocks run: an injected script is blocked and reported,
    which proves the console-error check above is able to fail."""
    page = (board / "index.html").read_text()
    tampered = tmp_path / "tampered.html"
    tampered.write_text(page.replace("</main>", "<script>document.title = 'pwned';</script></main>"))
    _open(browser, tampered)
    assert browser.evaluate("document.title") != "pwned"
    assert any("Content Security Policy" in e or "Content-Security-Policy" in e for e in browser.errors())


def test_repository_leaderboard_page(browser, tmp_path):
    """The committed leaderboard/index.html opens cleanly with filled tables."""
    page = REPO / "leaderboard" / "index.html"
    if not page.is_file():
        pytest.skip("no rendered leaderboard in this checkout")
    _open(browser, page)
    tables = browser.evaluate("Array.from(document.querySelectorAll('table.board')).map(t => t.tBodies[0].rows.length)")
    assert tables and all(n > 0 for n in tables)
    _screenshot(browser, "leaderboard-repo.png", tmp_path)
    assert browser.errors() == []
