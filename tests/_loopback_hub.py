"""A loopback Hugging Face Hub that takes uploads: enough of the Hub's HTTP API for huggingface_hub's
``create_repo``, ``upload_folder`` / ``create_commit``, ``repo_info`` and ``hf_hub_download``, in memory.

What it answers (the paths huggingface_hub's ``hf_api.py`` and ``_commit_api.py`` call):

- ``POST /api/repos/create`` (409 when the repo exists, as the Hub does; ``exist_ok`` relies on it);
- ``POST /api/validate-yaml`` (no warnings: the tests check the card themselves, with huggingface_hub);
- ``POST /api/<type>s/<repo>/preupload/<rev>``: every file is ``regular``, so its bytes come inline, base64, in
  the commit (no LFS or Xet storage to stand in for);
- ``POST /api/<type>s/<repo>/branch/<name>`` (from ``main``, or from an empty repo);
- ``POST /api/<type>s/<repo>/commit/<rev>``: the NDJSON commit; a commit holds the branch's files plus the
  added ones, under a new 40-hex id, and moves the branch;
- ``GET /api/<type>s/<repo>[/revision/<rev>]``: the repo's info (``sha``, ``siblings``, ``private``);
- ``GET /api/<type>s/<repo>/tree/<rev>[/<folder>]``: the listing ``datasets.load_dataset`` globs data files with;
- ``HEAD``/``GET /[<type>s/]<repo>/resolve/<rev>/<file>``: a file, with the headers hf_hub_download reads;
- ``POST /api/<type>s/<repo>/paths-info/<rev>``: each listed file's size (``HfApi.get_paths_info``), or the one
  ``listed_sizes`` states (a file too large for the disk);
- a repo in ``gated`` answers every read with the Hub's refusal of a gated repo (403, ``X-Error-Code: GatedRepo``).

Anything else is a 404 with the Hub's ``X-Error-Code``. Every request is kept in ``requests`` as
``"METHOD path"``. Clients run in a fresh process (:meth:`run`): huggingface_hub reads HF_ENDPOINT on import.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from _loopback import LoopbackServer

REPO = Path(__file__).resolve().parents[1]
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


class Repo:
    def __init__(self, private: bool):
        self.private = private
        self.commits: dict[str, dict[str, bytes]] = {}
        self.refs: dict[str, str] = {}
        self.messages: dict[str, str] = {}

    def files(self, revision: str) -> dict[str, bytes] | None:
        return self.commits.get(self.refs.get(revision, revision))


class UploadHub(LoopbackServer):
    """``repos[(type, repo_id)]``: a :class:`Repo` (type ``model`` or ``dataset``)."""

    def __init__(self):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[str] = []
        self.gated: set[tuple[str, str]] = set()  # (type, repo id) whose terms the caller has not accepted
        self.listed_sizes: dict[str, int] = {}  # file path -> the size paths-info states instead of the real one
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _json(self, status: int, obj) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, code: str, message: str = "") -> None:
                data = json.dumps({"error": message or code}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                outer.requests.append(f"POST {self.path}")
                path = unquote(urlsplit(self.path).path)
                body = self._body()
                if path == "/api/repos/create":
                    req = json.loads(body)
                    kind = req.get("type") or "model"
                    repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
                    prefix = "" if kind == "model" else f"{kind}s/"
                    url = f"{outer.url}/{prefix}{repo_id}"
                    if (kind, repo_id) in outer.repos:  # the Hub's answer: 409, the url in the body
                        return self._json(409, {"error": "You already created this repo", "url": url})
                    outer.repos[(kind, repo_id)] = Repo(private=req.get("visibility") == "private")
                    return self._json(200, {"url": url})
                if path == "/api/validate-yaml":
                    return self._json(200, {"errors": [], "warnings": []})
                parts = path.strip("/").split("/")
                if len(parts) >= 6 and parts[0] == "api" and parts[1] in TYPES and parts[4] == "paths-info":
                    return self._paths_info(TYPES[parts[1]], f"{parts[2]}/{parts[3]}", parts[5], body)
                if len(parts) >= 6 and parts[0] == "api" and parts[1] in TYPES and parts[4] == "branch":
                    repo = outer.repos.get((TYPES[parts[1]], f"{parts[2]}/{parts[3]}"))
                    if repo is None:
                        return self._error(404, "RepoNotFound")
                    if parts[5] in repo.refs:
                        return self._error(409, "Conflict", "Reference already exists")
                    start = (json.loads(body or b"{}").get("startingPoint")) or "main"
                    repo.refs[parts[5]] = repo.refs.get(start, start)
                    return self._json(200, {})
                if len(parts) >= 6 and parts[0] == "api" and parts[1] in TYPES and parts[4] in ("preupload", "commit"):
                    kind, repo_id, action, revision = TYPES[parts[1]], f"{parts[2]}/{parts[3]}", parts[4], parts[5]
                    repo = outer.repos.get((kind, repo_id))
                    if repo is None:
                        return self._error(404, "RepoNotFound", f"{repo_id} not found")
                    if action == "preupload":
                        files = json.loads(body)["files"]
                        return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                           "shouldIgnore": False} for f in files]})
                    return self._commit(kind, repo_id, repo, revision, body)
                return self._error(404, "EntryNotFound")

            def _gated(self, kind: str, repo_id: str) -> bool:
                if (kind, repo_id) not in outer.gated:
                    return False
                self._error(403, "GatedRepo", f"Access to {kind} {repo_id} is restricted. You must have access to "
                                              "it and be authenticated to access it. Please log in.")
                return True

            def _paths_info(self, kind: str, repo_id: str, revision: str, body: bytes) -> None:
                if self._gated(kind, repo_id):
                    return None
                repo = outer.repos.get((kind, repo_id))
                if repo is None:
                    return self._error(404, "RepoNotFound", f"{repo_id} not found")
                files = repo.files(revision)
                if files is None:
                    return self._error(404, "RevisionNotFound", f"{revision} not found")
                asked = parse_qs(body.decode()).get("paths", [])
                return self._json(200, [{"type": "file", "path": p, "size": outer.listed_sizes.get(p, len(files[p])),
                                         "oid": hashlib.sha1(files[p]).hexdigest()} for p in asked if p in files])

            def _commit(self, kind: str, repo_id: str, repo: Repo, revision: str, body: bytes) -> None:
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                files = dict(repo.files(revision) or {})
                summary = ""
                for line in lines:
                    key, value = line["key"], line["value"]
                    if key == "header":
                        summary = value.get("summary", "")
                    elif key == "file":
                        assert value["encoding"] == "base64"
                        files[value["path"]] = base64.b64decode(value["content"])
                    elif key == "deletedFile":
                        files.pop(value["path"], None)
                    else:
                        return self._error(400, "BadRequest", f"the loopback hub does not take {key!r}")
                digest = hashlib.sha1(json.dumps({"parent": repo.refs.get(revision), "n": len(repo.commits),
                                                  "files": {p: hashlib.sha256(b).hexdigest()
                                                            for p, b in sorted(files.items())}}).encode())
                commit = digest.hexdigest()
                repo.commits[commit] = files
                repo.refs[revision] = commit
                repo.messages[commit] = summary
                prefix = "" if kind == "model" else f"{kind}s/"
                return self._json(200, {"commitUrl": f"{outer.url}/{prefix}{repo_id}/commit/{commit}",
                                        "commitOid": commit, "pullRequestUrl": None})

            def _answer(self, with_body: bool):
                outer.requests.append(f"{self.command} {self.path}")
                parts = unquote(urlsplit(self.path).path).strip("/").split("/")
                if parts[0] == "api" and len(parts) >= 4 and parts[1] in TYPES:
                    kind, repo_id = TYPES[parts[1]], f"{parts[2]}/{parts[3]}"
                    if self._gated(kind, repo_id):
                        return None
                    revision = parts[5] if len(parts) >= 6 and parts[4] in ("revision", "tree") else "main"
                    repo = outer.repos.get((kind, repo_id))
                    if repo is None:
                        return self._error(404, "RepoNotFound", f"{repo_id} not found")
                    commit = repo.refs.get(revision, revision)
                    if commit not in repo.commits:
                        return self._error(404, "RevisionNotFound", f"{revision} not found")
                    if len(parts) >= 6 and parts[4] == "tree":
                        return self._tree(repo.commits[commit], "/".join(parts[6:]),
                                          "recursive=true" in self.path.lower())
                    return self._json(200, {"id": repo_id, "sha": commit, "private": repo.private,
                                            "siblings": [{"rfilename": p} for p in sorted(repo.commits[commit])]})
                kind = "model"
                if parts[0] in TYPES and parts[0] != "models":
                    kind, parts = TYPES[parts[0]], parts[1:]
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._error(404, "EntryNotFound")
                repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if self._gated(kind, repo_id):
                    return None
                repo = outer.repos.get((kind, repo_id))
                if repo is None:
                    return self._error(404, "RepoNotFound")
                commit = repo.refs.get(revision, revision)
                files = repo.commits.get(commit)
                if files is None:
                    return self._error(404, "RevisionNotFound")
                data = files.get(filename)
                if data is None:
                    return self._error(404, "EntryNotFound")
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def _tree(self, files: dict[str, bytes], folder: str, recursive: bool) -> None:
                prefix = f"{folder}/" if folder else ""
                entries: dict[str, dict] = {}
                for path, data in sorted(files.items()):
                    if not path.startswith(prefix):
                        continue
                    rest = path[len(prefix):].split("/")
                    for depth in range(1, len(rest)):  # the folders on the way
                        if recursive or depth == 1:
                            sub = prefix + "/".join(rest[:depth])
                            entries[sub] = {"type": "directory", "path": sub,
                                            "oid": hashlib.sha1(sub.encode()).hexdigest()}
                    if recursive or len(rest) == 1:
                        entries[path] = {"type": "file", "path": path, "size": len(data),
                                         "oid": hashlib.sha1(data).hexdigest()}
                if folder and not entries:
                    return self._error(404, "EntryNotFound", f"{folder} not found")
                return self._json(200, list(entries.values()))

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

        super().__init__(Handler)

    def files(self, kind: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[(kind, repo_id)]
        files = repo.files(revision)
        assert files is not None, f"{repo_id} has no revision {revision}"
        return files

    def env(self, tmp_path: Path) -> dict[str, str]:
        return {**os.environ, "HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home"),
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "10",
                "HF_TOKEN": "hf_loopback", "HF_HUB_DISABLE_XET": "1"}

    def run(self, args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``python ARGS`` in a fresh process against this hub."""
        return subprocess.run([sys.executable, *args], cwd=REPO, env={**self.env(tmp_path), **(env or {})},
                              capture_output=True, text=True, timeout=300)

    def run_json(self, code: str, tmp_path: Path):
        """Run ``code`` against this hub; it prints one JSON line last, which is returned."""
        run = self.run(["-c", code], tmp_path)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout.strip().splitlines()[-1])
