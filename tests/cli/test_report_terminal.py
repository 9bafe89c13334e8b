"""``shequn report`` without ``-o`` (issue 17): to a terminal the HTML goes to a file named on screen (an earlier one
is kept); to a pipe it is written out as before."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

SHEQUN = str(Path(sys.executable).with_name("shequn"))


def _terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run with standard output on a pseudo-terminal; (exit code, what it printed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=follower, cwd=cwd, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_html_to_a_terminal_becomes_a_file(tmp_path: Path) -> None:
    env = {**os.environ, "SHEQUN_LANG": "en", "COLUMNS": "200"}
    db = str(tmp_path / "r.db")
    subprocess.run([SHEQUN, "--db", db, "simulate", "-g", "3", "-d", "10"], check=True, capture_output=True, env=env)
    code, out = _terminal([SHEQUN, "--db", db, "report"], tmp_path, env)
    assert code == 0, out
    files = sorted(tmp_path.glob("shequn-report-*.html"))
    assert len(files) == 1 and f"report written to {files[0]}" in out.replace("\r\n", "").replace("\n", "")
    assert "<html" not in out and len(out) < 500
    code, out = _terminal([SHEQUN, "--db", db, "report"], tmp_path, env)
    assert code == 0 and len(sorted(tmp_path.glob("shequn-report-*.html"))) == 2  # the first one is kept
    piped = subprocess.run([SHEQUN, "--db", db, "report"], check=True, capture_output=True, env=env, cwd=tmp_path)
    assert piped.stdout.startswith(b"<!doctype html>")
