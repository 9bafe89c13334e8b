"""Hostile exports (issue 18): bounded memory, files that are not files, damaged zips, wrong types, bad dates.

Each case runs ``shequn import`` in a child process, the way an operator (or the upload job) would: the child's
peak memory is read from ``wait4``'s ``ru_maxrss``, and a hang is a failure (a timeout), not a stuck suite. Every
refusal exits 2 with one line naming the file and the place, and leaves the store as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn.app import App
from shequn.importers import FORMATS, Context, ExportError, Options, Source, plan
from tests.importers.helpers import DATA

WHATSAPP = DATA / "whatsapp" / "mlomb" / "4A_11M.txt"
PEAK_MB = 300
CHILD = "import sys; from shequn.cli.main import main; main(sys.argv[1:])"


def _env(tmp: Path, lang: str = "en") -> dict[str, str]:
    return {**os.environ, "SHEQUN_LANG": lang, "SHEQUN_DB": str(tmp / "store.db")}


def _import(tmp: Path, *paths: Path, lang: str = "en", timeout: float = 120) -> tuple[int, str]:
    """``shequn import PATHS`` in a child process: (exit status, stderr); a hang fails the test."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, "import", *map(str, paths)],
            env=_env(tmp, lang), capture_output=True, text=True, cwd=tmp, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"the import of {paths} was still running after {timeout} s")
    return done.returncode, done.stderr


# The child's own peak (VmHWM of the image it runs), written as it exits. Not ``wait4``'s ``ru_maxrss``: Linux keeps
# in it the memory the child had before ``exec``, a copy of the forking test process (hundreds of MB late in a run).
MEASURED_CHILD = (
    "import atexit, sys\n"
    "def peak():\n"
    "    hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
    "    open(sys.argv[1], 'w').write(hwm.split()[1])\n"
    "atexit.register(peak)\n"
    "from shequn.cli.main import main\n"
    "main(sys.argv[2:])\n"
)


def _measured(tmp: Path, *paths: Path) -> tuple[int, str, float]:
    """:func:`_import` with the child's own peak resident memory in MB."""
    peak = tmp / "peak_kb.txt"
    done = subprocess.run(
        [sys.executable, "-c", MEASURED_CHILD, str(peak), "import", *map(str, paths)],
        env=_env(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp, timeout=300, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr, int(peak.read_text()) / 1024


def _store_is_empty(tmp: Path) -> bool:
    db = tmp / "store.db"
    if not db.exists():
        return True
    app = App(f"sqlite:///{db}")
    try:
        return not list(app.events())
    finally:
        app.close()


def _telegram(text: str, *, pretty: bool) -> str:
    head = '{"name": "g", "type": "private_group", "id": 1, "messages": ['
    item = (
        '{"id": 1, "type": "message", "date": "2020-01-01T00:00:00", "date_unixtime": "1577836800", '
        f'"from": "a", "from_id": "user1", "text": {text}}}'
    )
    if pretty:
        return "{\n" + ' "name": "g",\n "type": "private_group",\n "id": 1,\n "messages": [\n  ' + item + "\n ]\n}\n"
    return head + item + "]}"


# -- memory ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["minified", "one item per line"])
def test_deep_nesting_inside_a_message_is_refused_in_little_memory(tmp_path: Path, layout: str) -> None:
    depth = 20_000  # a 40 KB file; the prefixes ijson.parse builds took 1 GB for it before
    nest = "[" * depth + "]" * depth
    path = tmp_path / "nested.json"
    path.write_text(_telegram(nest, pretty=layout != "minified"), encoding="utf-8")
    code, err, peak = _measured(tmp_path, path)
    assert code == 2, err
    assert f"{path}:" in err and "nested more than 1024 levels" in err and "Traceback" not in err
    assert peak < PEAK_MB, f"peak {peak:.0f} MB"
    assert _store_is_empty(tmp_path)


def test_deep_nesting_in_discord_json_is_refused(tmp_path: Path) -> None:
    depth = 5000
    path = tmp_path / "discord.json"
    path.write_text(
        '{"guild": {"id": "1", "name": "G"}, "channel": {"id": "2", "name": "c"}, "messages": [{"id": "3", '
        '"type": "Default", "timestamp": "2020-01-01T00:00:00+00:00", "content": "x", "author": {"id": "4", '
        '"name": "a"}, "embeds": ' + '[{"a": ' * depth + "1" + "}]" * depth + "}]}",
        encoding="utf-8",
    )
    code, err, peak = _measured(tmp_path, path)
    assert code == 2 and "nested more than 1024 levels" in err, err
    assert peak < PEAK_MB


def test_a_giant_whatsapp_line_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with G.txt"
    with path.open("wb") as f:
        f.write(WHATSAPP.read_bytes())
        f.write(b"12/31/20, 23:59 - Eve: ")
        block = b"a" * (1 << 20)
        for _ in range(120):  # 120 MiB on one line (a 300 MiB one took 1.6 GB)
            f.write(block)
        f.write(b"\n")
    code, err, peak = _measured(tmp_path, path)
    assert code == 2, err
    assert "larger than 4 MiB" in err and f"{path}:line " in err
    assert peak < PEAK_MB, f"peak {peak:.0f} MB"
    assert _store_is_empty(tmp_path)


def test_a_giant_message_over_many_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with G.txt"
    lines = WHATSAPP.read_bytes().splitlines(keepends=True)
    with path.open("wb") as f:
        f.writelines(lines[:3])
        line = b"b" * 1000 + b"\n"
        block = line * 1000
        for _ in range(120):  # 120 MB of continuation lines of one message
            f.write(block)
        f.writelines(lines[3:])
    code, err, peak = _measured(tmp_path, path)
    assert code == 2 and "larger than 4 MiB" in err and f"{path}:line 3:" in err, err
    assert peak < PEAK_MB, f"peak {peak:.0f} MB"


def test_a_giant_json_string_without_newlines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with path.open("wb") as f:
        head, tail = _telegram('"@@"', pretty=False).split("@@")
        f.write(head.encode())
        block = b"x" * (1 << 20)
        for _ in range(100):
            f.write(block)
        f.write(tail.encode())
    code, err, peak = _measured(tmp_path, path)
    assert code == 2 and "larger than 4 MiB" in err and f"{path}:byte " in err, err
    assert peak < PEAK_MB, f"peak {peak:.0f} MB"


# -- what is not a regular file ------------------------------------------------------------------------------------


def test_a_fifo_and_a_link_to_dev_zero_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "chat.txt"
    os.mkfifo(fifo)
    code, err = _import(tmp_path, fifo, timeout=60)
    assert code == 2 and f"{fifo}: not a regular file or folder" in err, err
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    code, err = _import(tmp_path, zero, lang="zh-CN", timeout=60)
    assert code == 2 and f"{zero}: 不是普通文件或文件夹" in err, err
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "fifo.txt").symlink_to(fifo)
    (folder / "chat.txt").write_bytes(WHATSAPP.read_bytes())
    planned, skipped = plan([folder])
    assert [p.source.path.name for p in planned] == ["chat.txt"] and skipped == [str(folder / "fifo.txt")]


# -- damaged zips ------------------------------------------------------------------------------------------------


def _whatsapp_zip(path: Path, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr("_chat.txt", WHATSAPP.read_bytes())
    return path.read_bytes()


def _damaged(tmp: Path, how: str) -> Path:
    path = tmp / f"{how}.zip"
    data = bytearray(_whatsapp_zip(path, zipfile.ZIP_STORED if how == "crc" else zipfile.ZIP_DEFLATED))
    start = 30 + len(b"_chat.txt")  # the member's data, after its local header
    if how == "crc":
        data[start + 100] ^= 0x20
    elif how == "zlib":
        data[start : start + 40] = b"\xff" * 40
    elif how == "name":
        data[30:39] = b"_chat.TXT"
    elif how == "encrypted":
        for at in (6, data.rindex(b"PK\x01\x02") + 8):  # the flag in the local and the central header
            data[at] |= 0x01
    elif how == "truncated":
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("crc", "Bad CRC-32"),
        ("zlib", "compressed data is corrupt"),
        ("name", "differ"),
        ("encrypted", "encrypted"),
        ("truncated", "truncated"),
    ],
)
def test_damaged_zips_name_the_damage(tmp_path: Path, how: str, reason: str) -> None:
    path = _damaged(tmp_path, how)
    code, err = _import(tmp_path, path)
    assert code == 2 and f"{path}" in err and "damaged zip archive" in err and reason in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert _store_is_empty(tmp_path)
    code, err = _import(tmp_path, path, lang="zh-CN")
    assert code == 2 and "zip 文件已损坏" in err


# -- wrong types and bad dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pretty", [True, False])
def test_valid_json_with_wrong_types_says_so(tmp_path: Path, pretty: bool) -> None:
    path = tmp_path / "result.json"
    body = _telegram('"x"', pretty=pretty).replace(
        '{"id": 1, "type"', '17,\n  {"id": 1, "type"' if pretty else '17, {"id": 1, "type"'
    )
    path.write_text(body, encoding="utf-8")
    code, err = _import(tmp_path, path)
    assert code == 2, err
    assert "valid JSON, but messages[] should be object, not number" in err and f"{path}:" in err
    assert "malformed" not in err


@pytest.mark.parametrize("pretty", [True, False])
@pytest.mark.parametrize(("value", "found"), [("{}", "object"), ("5", "number"), ('"x"', "string")])
def test_a_message_list_that_is_no_list_says_so(tmp_path: Path, pretty: bool, value: str, found: str) -> None:
    path = tmp_path / "result.json"
    sep = "\n " if pretty else ""
    body = "{" + sep + '"name": "g",' + sep + '"type": "private_group",' + sep + '"messages": ' + value + "\n}\n"
    path.write_text(body if pretty else body.replace("\n", ""), encoding="utf-8")
    code, err = _import(tmp_path, path)
    assert code == 2 and f"messages should be array, not {found}" in err, err


def test_a_bad_qq_date_names_the_date(tmp_path: Path) -> None:
    path = tmp_path / "qq.txt"
    path.write_text(
        "消息记录（此消息记录为文本格式，不支持重新导入）\n\n"
        "================================================================\n"
        "消息分组:我的群聊\n"
        "================================================================\n"
        "消息对象:读书会\n"
        "================================================================\n\n"
        "2016-13-45 21:42:13 小明(12345678)\n你好\n\n",
        encoding="utf-8",
    )
    code, err = _import(tmp_path, path)
    assert code == 2 and f"{path}:line 9: unreadable time '2016-13-45 21:42:13'" in err, err


def test_a_whatsapp_year_0000_is_no_date(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with G.txt"
    path.write_text("0000-01-02, 10:00 - Ann: hello\n2020-01-02, 10:01 - Bob: hi\n", encoding="utf-8")
    code, err = _import(tmp_path, path)
    assert code == 2 and "unreadable time" in err and "0000" in err, err
    assert _store_is_empty(tmp_path)


# -- fuzzing: hostile mutations of real exports -------------------------------------------------------------------


def _only_export_errors(path: Path) -> None:
    """Plan and parse ``path``: events, or an ExportError naming the file; never anything else."""
    try:
        planned, _ = plan([path])
        for item in planned:
            for _ in item.format.rows(Context(item.source, Options())):
                pass
    except ExportError as exc:
        assert str(exc).startswith(str(path)), str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_whatsapp_zips_fail_clearly(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    path = tmp_path / "mutated.zip"
    data = bytearray(_whatsapp_zip(path))
    for at, value in flips:
        data[at % len(data)] = value
    path.write_bytes(bytes(data))
    _only_export_errors(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["telegram", "discord-json", "matrix"]),
    depth=st.integers(1, 3000),
    opener=st.sampled_from(["[", '{"a":']),
    pretty=st.booleans(),
)
def test_any_nesting_in_json_exports(tmp_path: Path, fmt: str, depth: int, opener: str, pretty: bool) -> None:
    seed = {
        "telegram": DATA / "telegram" / "tgif-c-sharp-indonesia.result.json",
        "discord-json": DATA / "discord" / "mlomb" / "SV_5A_5M.json",
        "matrix": Path(__file__).parent / "fixtures" / "element-export.json",
    }[fmt]
    closer = "]" if opener == "[" else "}"
    nest = (opener * depth + "1" + closer * depth).encode()
    data = seed.read_bytes()
    at = data.index(b'"messages"')
    at = data.index(b"{", at) + 1
    sep = b"\n" if pretty else b""
    path = tmp_path / seed.name
    path.write_bytes(data[:at] + sep + b'"nested": ' + nest + b"," + sep + data[at:])
    ctx = Context(Source(path), Options())
    try:
        for _ in FORMATS[fmt].parse(ctx):
            pass
    except ExportError as exc:
        assert depth >= 1000 or "nested" not in str(exc), str(exc)
        assert str(exc).startswith(str(path))
