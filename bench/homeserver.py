"""A real Matrix homeserver for the tests and ``shequn bench matrix``: Synapse (from PyPI) on 127.0.0.1 with SQLite,
no federation, registration by shared secret, rate limits relaxed; stopped by its process id.

Also a tiny synchronous client-server API helper (:class:`Account`) for the tests' people: they post, join, read.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

_RELAXED = '{"per_second": 10000, "burst_count": 100000}'
_LIMITERS = [
    "rc_message",
    "rc_registration",
    "rc_joins_per_room",
    "rc_admin_redaction",
    "rc_3pid_validation",
    "rc_room_creation",
    "rc_delayed_event_mgmt",
    "rc_reports",
    "rc_profile",
    "rc_user_directory",
    "rc_key_requests",
    "rc_media_create",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(datadir: Path, port: int, secret: str) -> str:
    d = datadir
    lines = [
        'server_name: "localhost"',
        f'public_baseurl: "http://127.0.0.1:{port}/"',
        f'pid_file: "{d}/homeserver.pid"',
        "listeners:",
        f"  - port: {port}",
        '    bind_addresses: ["127.0.0.1"]',
        "    type: http",
        "    tls: false",
        "    x_forwarded: false",
        "    resources:",
        "      - names: [client]",
        "        compress: false",
        "database:",
        "  name: sqlite3",
        "  args:",
        f'    database: "{d}/homeserver.db"',
        f'log_config: "{d}/log.config"',
        f'media_store_path: "{d}/media_store"',
        f'signing_key_path: "{d}/localhost.signing.key"',
        "report_stats: false",
        "enable_metrics: false",
        "enable_registration: false",
        f'registration_shared_secret: "{secret}"',
        f'macaroon_secret_key: "{secrets.token_hex(16)}"',
        f'form_secret: "{secrets.token_hex(16)}"',
        "bcrypt_rounds: 4",
        "trusted_key_servers: []",
        "suppress_key_server_warning: true",
        "federation_domain_whitelist: []",
        "federation_sender_instances: []",
        "url_preview_enabled: false",
        "presence:",
        "  enabled: false",
        *(f"{name}: {_RELAXED}" for name in _LIMITERS),
        "rc_login:",
        *(f"  {k}: {_RELAXED}" for k in ("address", "account", "failed_attempts")),
        "rc_joins:",
        *(f"  {k}: {_RELAXED}" for k in ("local", "remote")),
        "rc_invites:",
        *(f"  {k}: {_RELAXED}" for k in ("per_room", "per_user", "per_issuer")),
        "rc_presence:",
        f"  per_user: {_RELAXED}",
    ]
    return "\n".join(lines) + "\n"


_LOG_CONFIG = """version: 1
formatters:
  precise: {format: '%(asctime)s - %(name)s - %(levelname)s - %(message)s'}
handlers:
  file: {class: logging.FileHandler, formatter: precise, filename: LOGFILE}
loggers:
  synapse.storage.SQL: {level: WARNING}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


@dataclass
class Account:
    """A person on the homeserver, acting through the client-server API."""

    hs: Synapse
    user_id: str
    token: str

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        r = httpx.request(
            method,
            f"{self.hs.url}/_matrix/client/v3{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        if r.status_code >= 400:
            raise MatrixHTTPError(r.status_code, r.json())
        return r.json()

    def create_room(self, name: str, *, power: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {"name": name, "preset": "public_chat", "visibility": "private"}
        if power:
            body["power_level_content_override"] = {"users": power}
        return str(self._call("POST", "/createRoom", body)["room_id"])

    def join(self, room: str) -> None:
        self._call("POST", f"/join/{room}", {})

    def leave(self, room: str) -> None:
        self._call("POST", f"/rooms/{room}/leave", {})

    def invite(self, room: str, user: str) -> None:
        self._call("POST", f"/rooms/{room}/invite", {"user_id": user})

    def say(self, room: str, text: str, *, mentions: tuple[str, ...] = (), reply_to: str = "") -> str:
        body: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if mentions:
            body["m.mentions"] = {"user_ids": list(mentions)}
        if reply_to:
            body["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return str(self._call("PUT", f"/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}", body)["event_id"])

    def open_direct(self, user: str) -> str:
        """A direct chat with ``user`` (invited with ``is_direct``, as clients open one)."""
        body = {"is_direct": True, "invite": [user], "preset": "trusted_private_chat"}
        return str(self._call("POST", "/createRoom", body)["room_id"])

    def set_name(self, name: str) -> None:
        self._call("PUT", f"/profile/{self.user_id}/displayname", {"displayname": name})

    def messages(self, room: str, limit: int = 200) -> list[dict[str, Any]]:
        """The room's timeline, oldest first (redacted events have empty content)."""
        out = self._call("GET", f"/rooms/{room}/messages", params={"dir": "b", "limit": limit})
        return list(reversed(out["chunk"]))

    def event(self, room: str, event_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/rooms/{room}/event/{event_id}"))

    def state(self, room: str, kind: str, key: str = "") -> dict[str, Any]:
        return dict(self._call("GET", f"/rooms/{room}/state/{kind}/{key}"))

    def membership(self, room: str, user: str) -> str:
        try:
            return str(self.state(room, "m.room.member", user).get("membership", ""))
        except MatrixHTTPError:
            return ""

    def invites(self) -> list[str]:
        out = self._call("GET", "/sync", params={"timeout": 0, "filter": '{"room":{"timeline":{"limit":1}}}'})
        return list((out.get("rooms") or {}).get("invite") or {})


class MatrixHTTPError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class Synapse:
    """A running homeserver; :meth:`register` makes accounts."""

    def __init__(self, datadir: Path) -> None:
        self.datadir = datadir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None
        datadir.mkdir(parents=True, exist_ok=True)
        (datadir / "homeserver.yaml").write_text(_config(datadir, self.port, self.secret), encoding="utf-8")
        (datadir / "log.config").write_text(
            _LOG_CONFIG.replace("LOGFILE", str(datadir / "homeserver.log")), encoding="utf-8"
        )
        from signedjson.key import generate_signing_key, write_signing_keys

        with open(datadir / "localhost.signing.key", "w", encoding="utf-8") as f:
            write_signing_keys(f, [generate_signing_key("a_" + secrets.token_hex(2))])

    def start(self) -> None:
        args = [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.datadir / "homeserver.yaml")]
        with open(self.datadir / "stderr.log", "ab") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(args, cwd=self.datadir, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"synapse exited: {(self.datadir / 'stderr.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("synapse did not answer within 60 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def register(self, localpart: str, *, admin: bool = False) -> Account:
        nonce = httpx.get(f"{self.url}/_synapse/admin/v1/register", timeout=10).json()["nonce"]
        password = secrets.token_hex(8)
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"])
        )
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()}
        r = httpx.post(f"{self.url}/_synapse/admin/v1/register", json=body, timeout=30)
        r.raise_for_status()
        data = r.json()
        return Account(self, data["user_id"], data["access_token"])
