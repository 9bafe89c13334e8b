"""Schemathesis against the published OpenAPI schema, on the ASGI app: no generated request may cause a server
error (5xx). Each example runs with a fresh owner token, so an example that revokes tokens cannot hide the rest."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from shequn.domain import VirtualClock
from shequn.services.accounts import ROLE_PERMS, Role
from tests.conftest import T0
from tests.web.conftest import Site, make_site


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = make_site(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'web.db'}", VirtualClock(T0 + timedelta(days=2)))
    s.accounts.create_user("fuzz-owner", "fuzz password", "owner", actor="test")
    yield s
    s.app.close()


def owner_token(site: Site) -> str:
    user = next(u for u in site.accounts.users() if u.username == "fuzz-owner")
    return site.accounts.create_token(user, "fuzz", ROLE_PERMS[Role.OWNER], actor="test")[1]


def test_no_server_error(fuzz_site: Site) -> None:
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", fuzz_site.web, headers={"Authorization": f"Bearer {owner_token(fuzz_site)}"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {owner_token(fuzz_site)}"})
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            detail = "".join(traceback.format_exception(exc))[-3000:]  # with a flaky run's own exception
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:800]}\n{detail}")
    assert not failures, "\n\n".join(failures)
