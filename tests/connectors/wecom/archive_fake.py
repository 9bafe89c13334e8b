"""The archive's side of the WeCom tests: the fake Finance SDK compiled from ``fake_finance_sdk.c`` (gcc), and what it
serves (:class:`FakeArchive`): the documented GetChatData entries, each message's random key RSA-encrypted
(PKCS#1 v1.5) to a test key of its ``publickey_ver``, media files by ``sdkfileid``."""

from __future__ import annotations

import base64
import io
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SOURCE = Path(__file__).with_name("fake_finance_sdk.c")
CORP, ARCHIVE_SECRET = "ww0123456789abcdef", "archive-secret-not-real"


def compile_sdk(out_dir: Path) -> Path:
    """``libWeWorkFinanceSdk_C.so`` built from the fake's C source (gcc is installed by ``scripts/setup --dev``)."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is missing: run scripts/setup --dev (it installs gcc and libc6-dev from Debian's packages)"
    lib = out_dir / "libWeWorkFinanceSdk_C.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-Wall", "-o", str(lib), str(SOURCE)], check=True)
    return lib


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(key: rsa.RSAPrivateKey, path: Path, *, pkcs8: bool = False) -> Path:
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    return path


def qr_png(payload: str) -> bytes:
    out = io.BytesIO()
    segno.make(payload).save(out, kind="png", scale=6)
    return out.getvalue()


class FakeArchive:
    """The archive the fake SDK serves from ``folder`` (``FAKE_WEWORK_DIR``)."""

    def __init__(self, folder: Path, keys: dict[int, rsa.RSAPrivateKey]) -> None:
        self.folder = folder
        self.keys = keys
        (folder / "media").mkdir(parents=True, exist_ok=True)
        self.seq = 0
        self.msgids: list[str] = []

    def add(self, msg: dict[str, Any], *, version: int = 1) -> int:
        """Append one message (its plaintext as DecryptData returns it); its seq."""
        self.seq += 1
        msg = {"msgid": f"{self.seq}_{secrets.token_hex(6)}_external", "action": "send", **msg}
        msg.setdefault("msgtime", int(time.time() * 1000))
        self.msgids.append(str(msg["msgid"]))
        random_key = secrets.token_hex(16).encode()  # 32 ASCII characters, as WeCom's keys are
        encrypted_key = self.keys[version].public_key().encrypt(random_key, padding.PKCS1v15())
        plain = b"OK:" + orjson.dumps(msg)
        cipher = bytes(b ^ random_key[i % len(random_key)] for i, b in enumerate(plain)).hex()
        entry = {
            "seq": self.seq,
            "msgid": msg["msgid"],
            "publickey_ver": version,
            "encrypt_random_key": base64.b64encode(encrypted_key).decode(),
            "encrypt_chat_msg": cipher,
        }
        with (self.folder / "chatdata.jsonl").open("ab") as f:
            f.write(orjson.dumps(entry) + b"\n")
        return self.seq

    def text(self, room: str, sender: str, content: str, **extra: Any) -> int:
        return self.add(
            {"from": sender, "tolist": [], "roomid": room, "msgtype": "text", "text": {"content": content}, **extra}
        )

    def image(self, room: str, sender: str, data: bytes, **extra: Any) -> int:
        fileid = secrets.token_hex(12)
        (self.folder / "media" / fileid).write_bytes(data)
        body = {"sdkfileid": fileid, "md5sum": "", "filesize": len(data)}
        return self.add({"from": sender, "tolist": [], "roomid": room, "msgtype": "image", "image": body, **extra})

    def fail_next(self, code: int) -> None:
        (self.folder / "fail_next").write_text(str(code))

    def calls(self) -> list[tuple[int, int]]:
        log = self.folder / "calls.log"
        if not log.exists():
            return []
        return [(int(a), int(b)) for a, b in (line.split() for line in log.read_text().splitlines())]

    def env(self, lib: Path, keys: dict[int, Path]) -> dict[str, str]:
        return {
            "FAKE_WEWORK_DIR": str(self.folder),
            "FAKE_WEWORK_CORP": CORP,
            "FAKE_WEWORK_SECRET": ARCHIVE_SECRET,
            "SHEQUN_WECOM_CORP_ID": CORP,
            "SHEQUN_WECOM_FINANCE_SDK": str(lib),
            "SHEQUN_WECOM_ARCHIVE_SECRET": ARCHIVE_SECRET,
            "SHEQUN_WECOM_ARCHIVE_KEYS": ",".join(f"{v}={p}" for v, p in keys.items()),
        }


def set_env(values: dict[str, str]) -> None:
    """For the in-process tests: the fake reads its folder and credentials from the process environment."""
    os.environ.update({k: v for k, v in values.items() if k.startswith("FAKE_WEWORK_")})
