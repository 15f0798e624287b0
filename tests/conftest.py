"""Shared fixtures: real settings in a temporary data dir, real engines once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from appliance.config import Settings, load_settings
from appliance.engines import Engines

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("appliance-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return load_settings(
        environ={
            "HOME": str(data_dir),
            "APPLIANCE_DATA_DIR": str(data_dir),
            "APPLIANCE_LOG__FORMAT": "text",
        }
    )


@pytest_asyncio.fixture(scope="session")
async def engines(settings: Settings) -> AsyncIterator[Engines]:
    started = await Engines.start(settings)
    yield started
    await started.close()
