"""One set of figures (issue 17): the demo workspace (``shequn demo --no-serve``) tells the same members, dead-since
dates, revenue and paying members on the command line, the console's pages, the API and the report; "needs attention"
finds the seeded problem groups of simulated workspaces with precision and recall of at least 0.8."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from shequn.app import App
from shequn.cli.demo import DEMO_GROUPS
from shequn.cli.main import main
from shequn.cli.simulate import load_simulation
from shequn.i18n import fmt
from shequn.services.accounts import ROLE_PERMS, Accounts, Role
from shequn.services.console import Operations
from shequn.simulator import simulate
from shequn.web import create_app

PROBLEM_STAGES = ("decline", "dormant", "dead")


@dataclass
class Demo:
    db: str
    app: App
    client: TestClient
    headers: dict[str, str]
    report: dict[str, object]

    def page(self, path: str) -> str:
        r = self.client.get(path, headers=self.headers)
        assert r.status_code == 200, (path, r.status_code)
        return r.text


def _run(*args: str) -> None:
    try:
        main(list(args))
    except SystemExit as exc:
        assert not exc.code, args


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("figures")
    db = str(folder / "demo.db")
    mp = pytest.MonkeyPatch()
    mp.setenv("SHEQUN_LANG", "zh-CN")
    _run("--db", db, "demo", "--no-serve")
    _run("--db", db, "report", "--format", "json", "-o", str(folder / "report.json"))
    app = App(db)
    accounts = Accounts(app)
    user = accounts.create_user("amy", "correct horse battery", "owner", actor="test")
    token, csrf = accounts.login(user)
    _, bearer = accounts.create_token(user, "t", ROLE_PERMS[Role.OWNER], actor="test")
    client = TestClient(create_app(app), base_url="https://testserver", follow_redirects=False)
    headers = {"Cookie": f"shequn_session={token}", "Authorization": f"Bearer {bearer}", "X-CSRF-Token": csrf}
    try:
        yield Demo(db, app, client, headers, json.loads((folder / "report.json").read_text(encoding="utf-8")))
    finally:
        app.close()
        mp.undo()


def _members_on_card(html: str, name: str) -> int:
    card = html[html.index(f">{name}</a></h3>") :]
    m = re.search(r"<dt>成员</dt><dd>([\d,]+)</dd>", card)
    assert m is not None
    return int(m.group(1).replace(",", ""))


def test_members_are_the_same_on_every_surface(demo: Demo) -> None:
    with demo.app.store.transaction() as conn:
        counts = demo.app.store.stats.community_counts(conn, demo.app.ws.id)  # the demo command's table
    overview = demo.page("/")
    api = {c["name"]: c for c in demo.client.get("/api/v1/communities", headers=demo.headers).json()}
    report = demo.report["communities"]
    assert isinstance(report, dict)
    from shequn.services.shop import Shop

    shop = Shop(demo.app).measures()["communities"]
    for name, c in counts.items():
        page = demo.page(f"/communities/{quote(name)}")
        growth_members = int(re.findall(r"/ ([\d,]+)", demo.page("/growth").split(f'data-community="{name}"')[1])[0]
                             .replace(",", ""))  # fmt: skip
        assert c.members > 0
        assert _members_on_card(overview, name) == c.members
        assert api[name]["members"] == c.members
        assert report[name]["members"] == c.members
        assert shop[name]["members"] == c.members
        assert growth_members == c.members
        # the community page's groups add up to at least the community (a person may be in two groups)
        group_members = [int(x) for x in re.findall(r'<td class="n">(\d+)</td><td class="n">[\d,]+</td>', page)]
        assert sum(group_members) >= c.members
    total = sum(c.members for c in counts.values())
    assert f"<b>{fmt.count(total)}</b><span>在群成员</span>" in overview


def test_a_dead_group_has_one_dead_since_date(demo: Demo) -> None:
    groups = demo.report["groups"]
    assert isinstance(groups, dict)
    dead = {k: g for k, g in groups.items() if g["dead"]}
    assert dead
    ops = Operations(demo.app)
    ids = {f"{g.platform}:{g.platform_id}": g.id for g in ops.groups()}
    for key, g in dead.items():
        html = demo.page(f"/groups/{ids[key]}")
        head = html[html.index("<h1>") : html.index('id="heatmap"')]
        dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", head))
        assert dates == {g["dead_since"]}, (key, dates)
        assert g["stage_since"] == g["dead_since"]


def test_growth_tiles_count_the_logs_payments(demo: Demo) -> None:
    report = demo.report["communities"]
    assert isinstance(report, dict)
    html = demo.page("/growth")
    payers_total = 0
    for name, c in report.items():
        section = html.split(f'data-community="{name}"')[1].split("</section>")[0]
        payers_total += c["payers"]
        assert f"<b>{fmt.money(c['revenue'])}</b>" in section
        assert f"<b>{fmt.count(c['payers'])} / {fmt.count(c['members'])}</b>" in section
        assert f"<b>{fmt.count(c['funnel']['refer'])}</b>" in section
    assert payers_total > 100  # the demo has 454 payments and 276 paid orders
    assert "code:ref-" not in html and "邀请码 ref-" in html


def _precision_recall(app: App, truth: dict[str, object]) -> tuple[float, float, int]:
    groups = truth["groups"]
    assert isinstance(groups, list)
    problem = {g["platform_id"] for g in groups if g["trajectory"][-1]["stage"] in PROBLEM_STAGES}
    ov = Operations(app).overview("zh-CN", fresh=True, limit=10_000)
    flagged = {a.group.platform_id for a in ov.attention}
    hits = len(flagged & problem)
    return hits / len(flagged), hits / len(problem), len(flagged)


@pytest.mark.parametrize(("groups", "seed", "even"), [(DEMO_GROUPS, 7, True), (48, 3, False)])
def test_needs_attention_finds_the_seeded_problem_groups(tmp_path: Path, groups: int, seed: int, even: bool) -> None:
    sim = simulate(groups=groups, days=30, seed=seed, communities=6, even=even)
    app = App(f"sqlite:///{tmp_path / 'sim.db'}")
    try:
        load_simulation(app, sim, process=True)
        precision, recall, flagged = _precision_recall(app, sim.truth_dict())
    finally:
        app.close()
    assert precision >= 0.8 and recall >= 0.8, (precision, recall, flagged)
    assert flagged < groups / 2


def test_one_reason_per_cause_most_urgent_first(demo: Demo) -> None:
    ov = Operations(demo.app).overview("zh-CN", fresh=True)
    assert ov.attention
    for a in ov.attention:
        codes = [code for code, _ in a.reasons]
        assert len(codes) == len(set(codes))
        assert not ({"dead", "silent"} <= set(codes))
    scores = [a.score for a in ov.attention]
    assert scores == sorted(scores, reverse=True)


def test_citations_name_the_document_and_keep_file_and_line_on_hover(demo: Demo) -> None:
    name = next(iter(demo.report["communities"]))  # type: ignore[call-overload]
    html = demo.page(f"/communities/{quote(name)}")
    spans = re.findall(r'<span class="src" title="([^"]+)" data-source="[^"]+">\[([^\]]+)\]</span>', html)
    assert spans
    for source, shown in spans:
        assert re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt:\d+(-\d+)?", source)
        assert ".txt" not in shown
    assert any(shown.startswith("社群电商一书 · 第") for _s, shown in spans)
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\d{3}_[0-9a-f]{16}\.txt", text)  # no file hash in what a person reads


def test_the_rhythm_is_one_row_per_job_and_the_spec_reads_as_yaml(demo: Demo) -> None:
    name = next(iter(demo.report["communities"]))  # type: ignore[call-overload]
    html = demo.page(f"/communities/{quote(name)}")
    table = html.split('id="rhythm"', 1)[1].split("</table>", 1)[0]
    rhythm = demo.client.get(f"/api/v1/communities/{quote(name)}/rhythm?days=7", headers=demo.headers).json()
    labels = {r["label"] for r in rhythm}
    assert table.count("<tr class=") == len(labels) < len(rhythm)
    r = demo.client.get(f"/communities/{quote(name)}/spec.yaml", headers=demo.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("name: ") and "\n  " in r.text and "\\n" not in r.text.split("\n", 1)[0]


def test_a_bulk_action_asks_first_with_the_count(demo: Demo) -> None:
    name = next(iter(demo.report["communities"]))  # type: ignore[call-overload]
    query = f"community={quote(name)}&silent_days=3&status=active"
    page = demo.page(f"/segments?{query}&run=1")
    total = int(re.search(r'id="segment-count">[^<\d]*([\d,]+)', page).group(1).replace(",", ""))  # type: ignore[union-attr]
    csrf = demo.headers["X-CSRF-Token"]
    form = {"csrf": csrf, "query": query, "action": "tag", "key": "figures-1", "value": "回访"}
    asked = demo.client.post("/segments/act", data=form, headers=demo.headers)
    assert asked.status_code == 200 and f"给 {fmt.count(total)} 位成员打上标签「回访」？" in asked.text
    assert "回访" not in demo.page(f"/segments?{query}&run=1&tags=回访").split('id="segment-members"')[-1]
    done = demo.client.post("/segments/act", data={**form, "confirmed": str(total)}, headers=demo.headers)
    assert done.status_code == 303
    tagged = demo.page(f"/segments?{query}&run=1&tags={quote('回访')}")
    assert f"{fmt.count(total)}" in re.search(r'id="segment-count">([^<]+)<', tagged).group(1)  # type: ignore[union-attr]


def test_the_roster_pages_and_filters_and_counts_silence_as_the_report(demo: Demo) -> None:
    groups = demo.report["groups"]
    assert isinstance(groups, dict)
    ops = Operations(demo.app)
    big = max(ops.groups(), key=lambda g: g.members)
    report = groups[f"{big.platform}:{big.platform_id}"]
    first = demo.page(f"/groups/{big.id}")
    rows = first.split('id="roster"', 1)[1].split("</table>", 1)[0].count("<tr class=")
    assert big.members > 100 and rows == 100 and 'rel="next"' in first
    last = demo.page(f"/groups/{big.id}?page=99")  # past the end: the last page
    assert last.split('id="roster"', 1)[1].split("</table>", 1)[0].count("<tr class=") == (big.members % 100 or 100)
    silent = demo.page(f"/groups/{big.id}?show=silent")
    assert f'id="silent-count"><b>{fmt.count(report["silent_members"])}</b>' in silent
    assert f"({fmt.count(report['silent_members'])})" in silent.split('id="roster"')[0]
    name = re.search(r'<a href="/members/\d+">([^<]{2,})</a>', first).group(1)  # type: ignore[union-attr]
    found = demo.page(f"/groups/{big.id}?q={quote(name)}")
    assert name in found.split('id="roster"', 1)[1]


# Internal values that must not reach a person reading zh-CN: keys with an underscore, prefixed keys, audit actions,
# and elements whose whole text is one of the short keys (a group role, a scope, a role, an event kind, a method).
_SHORT_KEYS = ("main", "paid", "fan", "read", "write", "admin", "self", "invited", "approved", "roster", "message",
               "join", "leave", "owner", "operator", "viewer", "silent", "scout", "greeter", "storyteller", "sim",
               "member", "unknown", "active", "left", "due", "capped", "high", "mid", "low", "inactive")  # fmt: skip
_PATTERNS = (
    re.compile(r"(?<![\w/.-])[a-z]+_[a-z_]+(?![\w/.-])"),  # snake_case: added_by_staff, key_discussant …
    re.compile(r"\b(?:badge|tier|stage|code|user|token):[\w-]"),
    re.compile(r"\b(?:community|session|user|token|segment|task|import|webhook)\.[a-z_]+\b"),
    re.compile(r"date order"),
)


def _raw_values(html: str) -> list[str]:
    html = re.sub(r"<(script|style|code|textarea)\b.*?</\1>", " ", html, flags=re.S)
    found = [m.group(0) for m in re.finditer(r">\s*([a-z_]+)\s*<", html) if m.group(1) in _SHORT_KEYS]
    text = re.sub(r"<[^>]+>", " ", html)
    for pattern in _PATTERNS:
        found += pattern.findall(text)
    return found


def test_no_raw_internal_values_on_any_zh_page(demo: Demo) -> None:
    ops = Operations(demo.app)
    groups = ops.groups()
    person = ops.roster(groups[0].id)[0].person_id
    names = list(demo.report["communities"])  # type: ignore[call-overload]
    paths = ["/", "/tasks", "/tasks?status=done", "/events", "/imports", "/growth", "/settings",
             f"/members/{person}", f"/segments?community={quote(names[0])}&silent_days=3&run=1"]  # fmt: skip
    paths += [f"/communities/{quote(n)}" for n in names] + [f"/groups/{g.id}" for g in groups]
    raw = {p: found for p in paths if (found := _raw_values(demo.page(p + ("&" if "?" in p else "?") + "lang=zh-CN")))}
    assert not raw, raw


def test_no_raw_internal_values_in_zh_command_output(demo: Demo, tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    shequn = str(Path(sys.executable).with_name("shequn"))
    db = str(tmp_path / "copy.db")
    shutil.copy(demo.db, db)
    env = {**os.environ, "SHEQUN_LANG": "zh-CN", "COLUMNS": "200"}
    export = Path(__file__).resolve().parents[1] / "data" / "whatsapp" / "mlomb" / "4A_11M.txt"
    name = next(iter(demo.report["communities"]))  # type: ignore[call-overload]
    commands = [["report", "-f", "md"], ["community", "show", name], ["import", str(export)],
                ["simulate", "--truth", "/nonexistent/t.json"], ["sandbox", "-c", name, "--start", "soon"]]  # fmt: skip
    for args in commands:
        done = subprocess.run([shequn, "--db", db, *args], capture_output=True, text=True, env=env, check=False,
                              timeout=300)  # fmt: skip
        out = done.stdout + done.stderr
        found = [x for p in _PATTERNS for x in p.findall(out)]
        assert not found, (args, found)
        for line in out.splitlines():
            if line.startswith("错误："):  # an error in the user's language, not an English body after a prefix
                assert re.search(r"[\u4e00-\u9fff]", line[3:]), (args, line)


def test_after_a_start_the_overview_shows_the_last_complete_figures(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Operations(demo.app).overview("zh-CN", fresh=True)  # computed (or loaded) and saved beside the store
    assert first.analysed and first.figures_at
    restarted = Operations(demo.app)  # a new server process: nothing in memory
    monkeypatch.setattr(restarted, "_refresh_analysis", lambda locale: None)  # the child's work is not the point
    again = restarted.overview("zh-CN", fresh=True)
    assert again.analysed and again.figures_at == first.figures_at  # the saved figures, with their time
    assert [a.group.id for a in again.attention] == [a.group.id for a in first.attention]
    assert restarted.updating("zh-CN")  # and newer ones are being computed meanwhile (the page says so)


def _between(html: str, start: str, end: str) -> str:
    return html.split(start, 1)[1].split(end, 1)[0] if start in html else ""


def test_a_group_needs_attention_for_the_same_reasons_on_every_page(demo: Demo) -> None:
    ops = demo.client.app.state.ops  # type: ignore[attr-defined]  # the server's own: the same analysis as its pages
    overview = ops.overview("zh-CN", fresh=True, limit=10_000)
    flagged = {a.group.id: [code for code, _ in a.reasons] for a in overview.attention}
    assert flagged
    for g in ops.groups():
        group_page = _between(demo.page(f"/groups/{g.id}"), 'id="group-attention"', "</section>")
        assert re.findall(r'<li class="r-([a-z_]+)"', group_page) == flagged.get(g.id, []), g.id
        page = demo.page(f"/communities/{quote(g.community or '')}")
        community = _between(page, '<ul class="attention">', "</section>")
        assert (f'<a href="/groups/{g.id}">' in community) == (g.id in flagged), g.id


def test_the_command_line_tells_the_same_growth_figures(demo: Demo) -> None:
    import os
    import subprocess
    import sys

    shequn = str(Path(sys.executable).with_name("shequn"))
    env = {**os.environ, "SHEQUN_LANG": "zh-CN", "COLUMNS": "200"}
    out = subprocess.run([shequn, "--db", demo.db, "shop", "measures"], capture_output=True, text=True, env=env,
                         check=True, timeout=300).stdout  # fmt: skip
    now = subprocess.run(
        [shequn, "--db", demo.db, "report", "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    ).stdout  # the same window: other tests here add operators' events
    report = json.loads(now)["communities"]
    for name, c in report.items():
        block = out.split(name, 1)[1]
        assert f"收入（近 30 天）：{fmt.money(c['revenue'])}" in block
        assert f"付费成员 / 在群成员：{fmt.count(c['payers'])} / {fmt.count(c['members'])}" in block


def test_saved_figures_are_read_only_from_a_file_nobody_else_can_change(demo: Demo) -> None:
    # The saved analysis is a pickle (unpickling runs code): it is written for this user alone and ignored when others
    # could have changed it, as ssh treats its keys.
    ops = Operations(demo.app)
    ops.overview("zh-CN", fresh=True)
    path = ops._saved_path("zh-CN")
    assert path.stat().st_mode & 0o777 == 0o600
    assert Operations(demo.app)._saved_analysis("zh-CN") is not None
    path.chmod(0o666)
    assert Operations(demo.app)._saved_analysis("zh-CN") is None
    path.chmod(0o600)
