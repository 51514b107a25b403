"""`cnnlab submit`: upload a model to a leaderboard server and, with --wait, follow it to its
result. Standard library only (no torch, no numpy), so it starts at once on any laptop."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

FINAL = ("finished", "failed", "rejected")


class SubmitError(Exception):
    """The server refused or could not be reached; the message says which and why."""


def _multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "cnnlab-" + secrets.token_hex(16)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode() + b"\r\n")
    safe_name = file_name.replace('"', "_")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{safe_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _request(request: urllib.request.Request, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read()).get("detail", error.reason)
        except (json.JSONDecodeError, AttributeError):
            detail = error.reason
        raise SubmitError(f"the server answered {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ConnectionResetError | BrokenPipeError) and request.data:
            raise SubmitError(f"{request.full_url} closed the connection while the file "
                              f"({len(request.data) / 2**20:.1f} MB) was being sent; a "
                              "server does that to a file far over its size limit") from None
        raise SubmitError(f"cannot reach {request.full_url}: {reason}") from None


def submit(server: str, token: str, task: str, model: str | Path, label: str = "",
           timeout: float = 300) -> dict:
    path = Path(model)
    if not path.is_file():
        raise SubmitError(f"{path}: no such file")
    body, content_type = _multipart({"name": label} if label else {}, path.name,
                                    path.read_bytes())
    url = f"{server.rstrip('/')}/api/tasks/{urllib.parse.quote(task, safe='')}/submissions"
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, "Authorization": f"Bearer {token}"})
    return _request(request, timeout)


def _submission_url(server: str, key: str) -> str:
    return f"{server.rstrip('/')}/api/submissions/{urllib.parse.quote(str(key), safe='')}"


def mark_final(server: str, token: str, key: str, final: bool = True,
               timeout: float = 30) -> dict:
    """Mark (or unmark) one of your submissions for the private ranking."""
    request = urllib.request.Request(f"{_submission_url(server, key)}/final",
                                     data=json.dumps({"final": final}).encode(),
                                     method="POST", headers={
                                         "Content-Type": "application/json",
                                         "Authorization": f"Bearer {token}"})
    return _request(request, timeout)


def status(server: str, token: str, key: str, timeout: float = 30) -> dict:
    """One of your submissions (only its author, or an admin, may read it)."""
    request = urllib.request.Request(_submission_url(server, key),
                                     headers={"Authorization": f"Bearer {token}"})
    return _request(request, timeout)


def wait(server: str, token: str, key: str, poll_s: float = 2.0,
         limit_s: float = 3600) -> dict:
    deadline = time.monotonic() + limit_s
    while True:
        result = status(server, token, key)
        if result["status"] in FINAL:
            return result
        if time.monotonic() > deadline:
            raise SubmitError(f"submission {key} is still {result['status']} after "
                              f"{limit_s:g} s")
        time.sleep(poll_s)


def wait_for_server(server: str, seconds: float = 30.0) -> None:
    """Return once the server answers /healthz, whatever it answers (503 while no worker has
    reported yet): a script starting one waits with this."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{server.rstrip('/')}/healthz", timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SubmitError(f"{server} did not answer /healthz within {seconds:g} s") \
                    from None
            time.sleep(0.1)
