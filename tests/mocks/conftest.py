"""The default mock of most tests; tests needing other options call `agora_mock` themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.mocks.harness import Agora, agora_mock


@pytest.fixture
async def agora() -> AsyncIterator[Agora]:
    async with agora_mock() as mock:
        yield mock
