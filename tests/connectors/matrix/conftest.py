"""One real Synapse homeserver for the whole test session (started on first use, stopped by its process id)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.synapse import Synapse


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    hs = Synapse(Path(tmp_path_factory.mktemp("synapse")))
    hs.start()
    try:
        yield hs
    finally:
        hs.stop()
