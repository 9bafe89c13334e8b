"""WhatsApp text exports: every vendored file, every header format in whatstk's list, chat-miner's expected parse,
system lines, and merging overlapping exports without duplicates."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shequn.domain import ContentKind, Delete, Edit, Join, JoinMethod, Leave, LeaveReason, Message
from shequn.importers import Context, Options, Source, whatsapp
from tests.importers.helpers import DATA, import_files

WA = DATA / "whatsapp"
UTC_ZONE = ZoneInfo("UTC")


def _header_lines(path: Path, pattern: str) -> list[str]:
    """The lines of a file that start a record, found with a pattern written for that one file."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if re.match(pattern, line)]


@pytest.mark.parametrize(
    ("name", "pattern", "author"),
    [
        ("lorem.txt", r"^\[\d\d-\d\d-\d\d \d\d:\d\d:\d\d\] ", r"^\[[^\]]+\] ([^:]+): "),
        ("lorem-2000.txt", r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] ", r"^\[[^\]]+\] ([^:]+): "),
        ("lorem-merge-part1.txt", r"^\d{4}-\d\d-\d\d, \d\d:\d\d - ", r"^[\d-]+, [\d:]+ - ([^:]+): "),
        ("lorem-merge-part2.txt", r"^\d{4}-\d\d-\d\d, \d\d:\d\d - ", r"^[\d-]+, [\d:]+ - ([^:]+): "),
    ],
)
def test_whatstk_lorem_files_import_every_message(sqlite_url: str, name: str, pattern: str, author: str) -> None:
    path = WA / "whatstk" / name
    headers = _header_lines(path, pattern)
    authors = {m.group(1) for line in headers if (m := re.match(author, line))}
    got = import_files(sqlite_url, path)
    assert len(got.messages()) == len(headers)
    assert got.kinds() == {"message": len(headers)}
    assert {m.actor_name for m in got.messages()} == authors
    assert got.report.added == len(headers)


def test_pokemon_system_lines_and_authors(sqlite_url: str) -> None:
    got = import_files(sqlite_url, WA / "whatstk" / "pokemon.txt")
    system = [m for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert len(system) == 2  # the two end-to-end encryption notices, one of them written as if by "Pokemon Chat"
    assert all(not m.actor for m in system)
    assert len(got.messages()) == 18
    assert {m.actor_name for m in got.messages()} == {
        "Ash Ketchum", "Brock", "Misty", "Prof. Oak", "Jessie & James", "Raichu", "Meowth", "Wobbuffet",
    }  # fmt: skip
    first = got.messages()[0]
    assert first.at == datetime(2016, 8, 6, 13, 23, tzinfo=UTC)  # dd.mm.yyyy, read in --tz UTC
    assert got.report.groups[("whatsapp", "pokemon")].name == "pokemon"


@pytest.mark.parametrize(("name", "messages", "authors"), [("2A_5M.txt", 5, 2), ("4A_11M.txt", 11, 5)])
def test_mlomb_files_counts_from_their_names(sqlite_url: str, name: str, messages: int, authors: int) -> None:
    """mlomb names its samples by authors and messages; 4A_11M.txt has a fifth author (Trent) speaking in it."""
    got = import_files(sqlite_url, WA / "mlomb" / name)
    assert len(got.messages()) == messages
    assert len(got.authors()) == authors
    media = got.contents()
    if name == "2A_5M.txt":
        assert media == {"text": 4, "other": 1}  # <media omitted>
    else:
        joins = [e for e in got.events if isinstance(e, Join)]
        assert [(j.actor_name, j.inviter, j.method) for j in joins] == [("You", "Alice", JoinMethod.INVITED)]
        assert media["system"] == 2  # the encryption notice and "Alice created group"


def test_zip_export_is_the_same_as_its_text(sqlite_url: str, tmp_path: Path) -> None:
    txt = import_files(sqlite_url, WA / "mlomb" / "4A_11M.txt", group="g")
    again = import_files(f"sqlite:///{tmp_path / 'zip.db'}", WA / "mlomb" / "4A_11M.zip", group="g")
    assert [e.to_dict() for e in again.events] == [e.to_dict() for e in txt.events]


def test_chat_miner_expected_parse(sqlite_url: str) -> None:
    """chat-miner's target.json: the same timestamps, authors and texts for every file. chat-miner joins the lines
    of a multi-line message with a space and drops ``John Doe:.`` (it takes ``:.`` for a self-destroying message);
    shequn keeps that message with its text ``.``, which is the only difference."""
    target = json.loads((WA / "chat-miner" / "target.json").read_text(encoding="utf-8"))
    expected = sorted((t["timestamp"], t["author"], t["message"]) for t in target)
    for path in sorted((WA / "chat-miner").glob("*.txt")):
        got = import_files(sqlite_url, path, group=path.stem)
        rows = sorted(
            (m.at.strftime("%Y-%m-%dT%H:%M:%S"), m.actor_name, m.text.replace("\n", " "))
            for m in got.messages()
            if m.group == path.stem
        )
        extra = [r for r in rows if r not in expected]
        assert [r for r in expected if r not in rows] == [], path.name
        assert extra == [("2019-01-20T11:23:00", "John Doe", ".")], path.name
        got.app.close()


HEADER_FORMATS = json.loads((WA / "whatstk" / "header_format_support.json").read_text(encoding="utf-8"))
MOMENTS = [datetime(2020, 1, 25, 9, 5, 30), datetime(2020, 2, 3, 15, 45, 10), datetime(2020, 3, 17, 23, 59, 59)]


def _render(hformat: str, dt: datetime, *, year4: bool, ampm: str) -> str:
    out = hformat
    for code, value in (
        ("%name", "Ana María"),
        ("%y", f"{dt.year}" if year4 else f"{dt.year % 100:02d}"),
        ("%m", f"{dt.month:02d}"),
        ("%d", f"{dt.day:02d}"),
        ("%H", f"{dt.hour:02d}"),
        ("%I", f"{(dt.hour % 12) or 12:02d}"),
        ("%M", f"{dt.minute:02d}"),
        ("%S", f"{dt.second:02d}"),
        ("%p", ampm.replace("X", "P" if dt.hour >= 12 else "A").replace("x", "p" if dt.hour >= 12 else "a")),
    ):
        out = out.replace(code, value)
    return out


@pytest.mark.parametrize("hformat", [h["format"] for h in HEADER_FORMATS])
def test_every_header_format_of_whatstk(tmp_path: Path, hformat: str) -> None:
    seconds = "%S" in hformat
    for year4, ampm in ((True, "XM"), (False, "x. m."), (False, "\u202fXM")):
        lines = [_render(hformat, dt, year4=year4, ampm=ampm) + f" message {i}" for i, dt in enumerate(MOMENTS)]
        path = tmp_path / f"chat-{year4}-{len(ampm)}.txt"
        path.write_text("\n".join(lines) + "\ncontinued line\n", encoding="utf-8")
        msgs = [
            e for e in whatsapp.parse(Context(Source(path), Options(tz=UTC_ZONE, group="g"))) if isinstance(e, Message)
        ]
        assert [m.at for m in msgs] == [dt.replace(second=dt.second if seconds else 0, tzinfo=UTC) for dt in MOMENTS], (
            hformat,
            year4,
            ampm,
        )
        assert [m.actor_name for m in msgs] == ["Ana María"] * 3
        assert msgs[-1].text == "message 2\ncontinued line"


SAMPLE = """\u200e12/31/20, 9:00\u202fPM - Messages and calls are end-to-end encrypted. No one outside can read them.
12/31/20, 9:01\u202fPM - Ana created group "Book club"
12/31/20, 9:02\u202fPM - Ana added Ben, Cai and Dee
12/31/20, 9:03\u202fPM - Eve joined using this group's invite link
12/31/20, 9:04\u202fPM - Ben: Hello all
this continues the message
12/31/20, 9:05\u202fPM - Cai: <Media omitted>
12/31/20, 9:06\u202fPM - Dee: \u200e<attached: 00000042-PHOTO-2020-12-31-21-06-00.jpg>
12/31/20, 9:07\u202fPM - Dee: This message was deleted
12/31/20, 9:08\u202fPM - Ben: fixed typo <This message was edited>
12/31/20, 9:09\u202fPM - Eve: location: https://maps.google.com/?q=1,2
12/31/20, 9:10\u202fPM - Ana: @Ben and @Eve please read https://example.org
12/31/20, 9:11\u202fPM - Cai left
12/31/20, 9:12\u202fPM - Ana removed Dee
12/31/20, 9:13\u202fPM - Ben: I left my book here: page 3
"""


def test_system_lines_media_deletions_edits_and_mentions(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Book club.txt"
    path.write_text(SAMPLE, encoding="utf-8")
    got = import_files(sqlite_url, path, tz="Asia/Shanghai")
    assert got.report.groups[("whatsapp", "Book club")].name == "Book club"
    joins = [(e.actor, e.method, e.inviter) for e in got.events if isinstance(e, Join)]
    assert joins == [
        ("Ben", JoinMethod.INVITED, "Ana"),
        ("Cai", JoinMethod.INVITED, "Ana"),
        ("Dee", JoinMethod.INVITED, "Ana"),
        ("Eve", JoinMethod.SELF, ""),
    ]
    leaves = [(e.actor, e.reason, e.by) for e in got.events if isinstance(e, Leave)]
    assert leaves == [("Cai", LeaveReason.VOLUNTARY, ""), ("Dee", LeaveReason.REMOVED, "Ana")]
    by_author: dict[tuple[str, ContentKind], Message] = {}
    for m in got.messages():
        by_author.setdefault((m.actor, m.content), m)
    assert by_author[("Ben", ContentKind.TEXT)].at == datetime(2020, 12, 31, 13, 4, tzinfo=UTC)  # 21:04 in Shanghai
    assert by_author[("Cai", ContentKind.OTHER)].media == "<Media omitted>"
    assert by_author[("Dee", ContentKind.IMAGE)].media == "00000042-PHOTO-2020-12-31-21-06-00.jpg"
    assert by_author[("Eve", ContentKind.LOCATION)].media.startswith("https://maps.google.com")
    ana = by_author[("Ana", ContentKind.TEXT)]
    assert ana.mentions == ("Ben", "Eve")
    [deleted] = [e for e in got.events if isinstance(e, Delete)]
    [edit] = [e for e in got.events if isinstance(e, Edit)]
    assert (deleted.actor, deleted.by) == ("Dee", "Dee")
    assert any(m.message_id == deleted.message_id and m.text == "" for m in got.messages())
    assert edit.text == "fixed typo" and any(m.message_id == edit.message_id for m in got.messages())
    texts = [m.text for m in got.messages() if m.actor == "Ben"]
    assert "Hello all\nthis continues the message" in texts
    assert "I left my book here: page 3" in texts  # a message, not a leave
    system = [m.text for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert system[1] == 'Ana created group "Book club"'


def test_two_parts_merge_and_reimport_adds_nothing(sqlite_url: str) -> None:
    parts = [WA / "whatstk" / "lorem-merge-part1.txt", WA / "whatstk" / "lorem-merge-part2.txt"]
    got = import_files(sqlite_url, *parts, group="lorem")
    assert got.report.added == 600 and len(got.messages()) == 600
    again = import_files(sqlite_url, *parts, group="lorem")
    assert again.report.added == 0 and again.report.received == 600
    assert len(again.events) == 600


def test_overlapping_exports_merge_without_duplicates(sqlite_url: str, tmp_path: Path) -> None:
    """The vendored parts follow each other without overlap, so an overlapping pair is made from them: the second
    export repeats the last 100 messages of the first (as a later export of the same group does)."""
    first = (WA / "whatstk" / "lorem-merge-part1.txt").read_text(encoding="utf-8").splitlines()
    second = (WA / "whatstk" / "lorem-merge-part2.txt").read_text(encoding="utf-8").splitlines()
    a, b = tmp_path / "early.txt", tmp_path / "later.txt"
    a.write_text("\n".join(first) + "\n", encoding="utf-8")
    b.write_text("\n".join(first[-100:] + second) + "\n", encoding="utf-8")
    one = import_files(sqlite_url, a, group="lorem")
    two = import_files(sqlite_url, b, group="lorem")
    assert (one.report.added, two.report.received, two.report.added) == (300, 400, 300)
    assert len(two.events) == 600
    assert len({e.id for e in two.events}) == 600


def test_identical_lines_in_one_minute_are_kept_apart(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("1/2/21, 10:00 - A: ok\n1/2/21, 10:00 - A: ok\n1/2/21, 10:00 - B: ok\n", encoding="utf-8")
    got = import_files(sqlite_url, path, group="g")
    assert len(got.messages()) == 3
    assert import_files(sqlite_url, path, group="g").report.added == 0


def test_zip_with_media(sqlite_url: str, tmp_path: Path) -> None:
    z = tmp_path / "WhatsApp Chat - Family.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("_chat.txt", "[1/2/21, 10:00:00] A: <attached: 00000001-PHOTO-2021-02-01.jpg>\n")
        f.writestr("00000001-PHOTO-2021-02-01.jpg", b"\xff\xd8\xff")
    got = import_files(sqlite_url, z)
    [m] = got.messages()
    assert (m.group, m.content) == ("Family", ContentKind.IMAGE)


@pytest.mark.parametrize(
    ("variant", "text"),
    [
        # chat-miner's header pattern: [./,-] between the date's parts, any space before the time, 0?\d minutes,
        # hours up to 24
        ("date-with-commas", "12,05,2021, 14:05 - Ana: hola\n13,05,2021, 09:10 - Bo: hi\n"),
        ("tab-before-time", "12/05/2021\t14:05 - Ana: hola\n13/05/2021\t09:10 - Bo: hi\n"),
        ("one-digit-minutes", "12/05/2021, 14:5 - Ana: hola\n13/05/2021, 9:10 - Bo: hi\n"),
        ("hour-24", "11/05/2021, 24:05 - Ana: hola\n13/05/2021, 09:10 - Bo: hi\n"),
        # recent exports: "~ Name" (U+202F) for a sender not in the phone's contacts
        ("tilde-sender", "[12/05/2023, 14:05:00] ~\u202fAna: hola\n[13/05/2023, 09:10:00] Bo: hi\n"),
    ],
)
def test_header_variants_chat_miner_admits(sqlite_url: str, tmp_path: Path, variant: str, text: str) -> None:
    path = tmp_path / f"{variant}.txt"
    path.write_text(text, encoding="utf-8")
    ms = [e for e in whatsapp.parse(Context(Source(path), Options(tz=UTC_ZONE, group="g"))) if isinstance(e, Message)]
    assert [(m.actor_name, m.text) for m in ms] == [("Ana", "hola"), ("Bo", "hi")]
    year = 2023 if variant == "tilde-sender" else 2021
    hour = (0, 5) if variant == "hour-24" else (14, 5)
    expected = datetime(year, 5, 12, *hour, tzinfo=UTC)
    assert ms[0].at == expected and ms[1].at == datetime(year, 5, 13, 9, 10, tzinfo=UTC)
