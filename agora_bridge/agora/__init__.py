"""Everything that knows AGORA's wire format: the typed client, its bodies and its errors.

The day the Région receives the CDC's real specification, this package (with `contracts/`
and the mapping) is what changes.
"""

from agora_bridge.agora.auth import ClientCredentialsProvider, TokenProvider
from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import (
    AgoraError,
    AgoraPermanentError,
    AgoraTransientError,
    DossierExistant,
    TransitionDejaAppliquee,
    parse_retry_after,
    retry_delay,
)
from agora_bridge.agora.retry import RetryPolicy

__all__ = [
    "AgoraClient",
    "AgoraError",
    "AgoraPermanentError",
    "AgoraTransientError",
    "ClientCredentialsProvider",
    "DossierExistant",
    "RetryPolicy",
    "TokenProvider",
    "TransitionDejaAppliquee",
    "parse_retry_after",
    "retry_delay",
]
