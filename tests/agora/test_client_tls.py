"""Mutual TLS: the client presents its certificate (a throwaway one, made here) over loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agora_bridge.agora.auth import tls_context
from agora_bridge.agora.client import AgoraClient
from agora_bridge.agora.errors import AgoraTransientError
from agora_bridge.settings import ConfigurationError
from tests.agora.wire_builders import ID_AGORA, agora_settings, dossier_json


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path


def self_signed(directory: Path, name: str) -> Pem:
    """A certificate for 127.0.0.1, usable by a server and a client, trusted as its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = Pem(directory / f"{name}.crt", directory / f"{name}.key")
    pem.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem


@dataclass
class Seen:
    client_certs: list[dict[str, object]] = field(default_factory=list)


@asynccontextmanager
async def tls_agora(server: Pem, trusted_client: Pem) -> AsyncIterator[tuple[int, Seen]]:
    """A one-route HTTPS server on loopback that requires a client certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert, server.key)
    context.load_verify_locations(trusted_client.cert)
    context.verify_mode = ssl.CERT_REQUIRED
    seen = Seen()
    body = json.dumps(dossier_json()).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        seen.client_certs.append(writer.get_extra_info("peercert"))
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        writer.write(f"{head}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield listener.sockets[0].getsockname()[1], seen
    finally:
        listener.close()
        await listener.wait_closed()


class FixedToken:
    """A token provider for tests that are not about tokens."""

    async def token(self, *, client: httpx.AsyncClient) -> str:
        return "jeton-fixe"

    def invalidate(self, rejected: str | None = None) -> None:
        return None


async def test_the_client_presents_its_certificate(tmp_path: Path) -> None:
    server, bridge = self_signed(tmp_path, "agora"), self_signed(tmp_path, "bridge")
    async with tls_agora(server, trusted_client=bridge) as (port, seen):
        settings = agora_settings(
            base_url=f"https://127.0.0.1:{port}/agora/v2",
            cert_file=str(bridge.cert),
            key_file=str(bridge.key),
            ca_file=str(server.cert),
        )
        async with AgoraClient(settings, auth=FixedToken()) as client:
            dossier = await client.lire(id_agora=ID_AGORA)

    assert dossier.id_agora == ID_AGORA
    [peer] = seen.client_certs
    assert peer["subject"] == ((("commonName", "bridge"),),)


def test_no_context_without_certificate_settings() -> None:
    assert tls_context(agora_settings()) is None


def test_a_key_without_its_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="KEY_FILE"):
        tls_context(agora_settings(key_file=str(tmp_path / "bridge.key")))


def test_an_unreadable_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.crt")

    with pytest.raises(ConfigurationError, match="CERT_FILE"):
        tls_context(agora_settings(cert_file=missing))


async def test_without_its_certificate_the_client_is_refused(tmp_path: Path) -> None:
    server, bridge = self_signed(tmp_path, "agora"), self_signed(tmp_path, "bridge")
    async with tls_agora(server, trusted_client=bridge) as (port, seen):
        settings = agora_settings(
            base_url=f"https://127.0.0.1:{port}/agora/v2", ca_file=str(server.cert)
        )
        async with AgoraClient(settings, auth=FixedToken(), sleep=no_wait) as client:
            with pytest.raises(AgoraTransientError):
                await client.lire(id_agora=ID_AGORA)

    assert seen.client_certs == []


async def no_wait(seconds: float) -> None:
    return None
