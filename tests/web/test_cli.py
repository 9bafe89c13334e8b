"""``shequn user …``: the first-run owner and user management from the command line, with one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shequn.app import App
from shequn.services.accounts import Accounts
from tests.cli.test_cli import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "en")
    monkeypatch.delenv("SHEQUN_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def test_first_owner_then_users(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    code, out, err = cli("user", "create", "boss", "--role", "owner", "--password-stdin")
    assert code == 0 and "user boss created (owner)" in out, err
    monkeypatch.setenv("SHEQUN_PASSWORD", "another password")
    assert cli("user", "create", "ann")[0] == 0  # operator by default
    code, out, _ = cli("user", "list", "--json")
    assert json.loads(out) == [
        {"username": "boss", "role": "owner", "disabled": False},
        {"username": "ann", "role": "operator", "disabled": False},
    ]
    assert cli("user", "role", "ann", "viewer")[0] == 0
    app = App(cli.db)
    try:
        accounts = Accounts(app)
        assert accounts.authenticate("boss", "a long password") is not None
        assert accounts.authenticate("boss", "wrong password") is None
        assert [u.role for u in accounts.users()] == ["owner", "viewer"]
        assert [a.verb for a in app.store.audit.list(app.store.db.engine.connect(), app.ws.id)][:3] == [
            "user.role", "user.create", "user.create",
        ]  # fmt: skip
    finally:
        app.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (("user", "create", "x", "--role", "king"), "unknown role 'king'"),
        (("user", "create", "bad name"), "user name 'bad name'"),
        (("user", "role", "ghost", "viewer"), "no user named 'ghost'"),
    ],
)
def test_bad_input_is_one_line_with_status_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.setenv("SHEQUN_PASSWORD", "long enough")
    code, _, err = cli(*args)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_short_password_and_duplicates(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQUN_PASSWORD", "short")
    code, _, err = cli("user", "create", "boss", "--role", "owner")
    assert code == 2 and "at least 8 characters" in err
    monkeypatch.setenv("SHEQUN_PASSWORD", "long enough")
    assert cli("user", "create", "boss", "--role", "owner")[0] == 0
    code, _, err = cli("user", "create", "boss", "--role", "owner")
    assert code == 2 and "already exists" in err
    code, _, err = cli("user", "role", "boss", "viewer")
    assert code == 2 and "last owner" in err
