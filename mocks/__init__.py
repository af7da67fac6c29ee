"""The bundled AGORA V2 mock (see mocks/README.md): `create_app`, and ways to serve it."""

from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app
from mocks.server import RunningMock, mock_in_thread, running_mock

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "RunningMock",
    "create_app",
    "mock_in_thread",
    "running_mock",
]
