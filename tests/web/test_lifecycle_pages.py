"""A lifecycle step from the console and the API: the confirmation shows how many members it concerns, the step
runs only with the count confirmed, and the API's dry run counts without writing."""

from __future__ import annotations

from shequn.services.console import Operations
from tests.web.conftest import Site


def test_archive_from_the_console_asks_with_the_count_then_does_it(site: Site) -> None:
    c = site.client()
    h = site.session("operator")
    g2 = next(g for g in Operations(site.app).groups() if g.platform_id == "g2")
    form = {"verb": "archive", "csrf": h["X-CSRF-Token"]}
    ask = c.post(f"/groups/{g2.id}/lifecycle", data=form, headers={"Cookie": h["Cookie"]})
    assert ask.status_code == 200 and 'id="lifecycle-confirm"' in ask.text
    assert "4 位成员" in ask.text and 'name="confirmed" value="4"' in ask.text
    assert next(g for g in Operations(site.app).groups() if g.id == g2.id).state == "active"  # nothing done yet
    done = c.post(f"/groups/{g2.id}/lifecycle", data={**form, "confirmed": "4"}, headers={"Cookie": h["Cookie"]})
    assert done.status_code == 303 and done.headers["location"] == f"/groups/{g2.id}?done=archive"
    assert next(g for g in Operations(site.app).groups() if g.id == g2.id).state == "archived"
    page = c.get(done.headers["location"], headers=h).text
    assert 'id="lifecycle-done"' in page and "归档" in page


def test_the_api_step_counts_on_a_dry_run_and_refuses_bad_input(site: Site) -> None:
    c = site.client()
    g1 = next(g for g in Operations(site.app).groups() if g.platform_id == "g1")
    dry = c.post(f"/api/v1/groups/{g1.id}/dissolve", json={"dry_run": True}, headers=site.bearer("operator"))
    assert dry.status_code == 200 and dry.json()["members"] == 8 and dry.json()["dry_run"] is True
    assert next(g for g in Operations(site.app).groups() if g.id == g1.id).state == "active"
    bad = c.post(f"/api/v1/groups/{g1.id}/merge", json={"into": "sandbox:g1"}, headers=site.bearer("operator"))
    assert bad.status_code in (400, 422) and ("itself" in bad.text or "自己" in bad.text)
    assert c.post(f"/api/v1/groups/{g1.id}/archive", json={}, headers=site.bearer("viewer")).status_code == 403
