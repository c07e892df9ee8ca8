"""A real moto server, over real HTTP on loopback, standing in for Amazon SES in tests.

moto runs as its own process (``python -m moto.server``), started once per test session and
reset before every test, so the code under test talks to SES exactly as in production: boto3,
signing, HTTP, error parsing. ``tests/conftest.py`` registers this module as a plugin, so
any test can ask for the ``moto_ses`` fixture::

    def test_something(moto_ses: MotoSes) -> None:
        moto_ses.verify_identity("hello@fernandfield.example")
        transport = SesTransport(moto_ses.ses_options())
        ...
        [sent] = moto_ses.sent_raw_messages()
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from aftercare.settings import SesOptions

REGION = "eu-west-1"

# moto accepts any credentials; these only have to exist so botocore can sign requests.
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # Never read the developer's real AWS configuration, nor probe EC2 instance metadata.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET_AWS_ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SESV2",
)

_STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class MotoSes:
    """A running, freshly reset moto server and the few things tests do with it."""

    endpoint_url: str
    region: str = REGION

    def ses_options(self, **overrides: Any) -> SesOptions:
        """SES settings that point at this server."""
        return SesOptions(**{"region": self.region, "endpoint_url": self.endpoint_url, **overrides})

    def verify_identity(self, identity: str) -> None:
        """Verify a sender address or domain, as a store owner does in the SES console.

        moto marks an identity created through the SES v2 API as verified at once, and
        accepts a sender when its address or its domain is an identity.
        """
        client = boto3.session.Session().client(
            "sesv2",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_email_identity(EmailIdentity=identity)

    def sent_raw_messages(self) -> list[dict[str, Any]]:
        """What moto recorded for every raw email it accepted, oldest first.

        From ``GET /moto-api/data.json``, key ``["ses"]["RawMessage"]`` (SES v2 ``SendEmail``
        with raw content is stored by moto's v1 SES backend): each a dict with ``id`` (the
        MessageId returned to the sender), ``source``, ``destinations`` and ``raw_data`` (the
        MIME message as text).
        """
        with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=10) as r:
            data = json.load(r)
        return list(data["ses"]["RawMessage"])

    def reset(self) -> None:
        """Forget every identity and message (all moto state)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_moto_server(attempts: int = 3) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free loopback port; yield its URL; stop it.

    The port is picked before the server binds it, so another process can take it in
    between; the server then exits at once and a new port is tried.
    """
    failures: list[str] = []
    for _ in range(attempts):
        port = free_loopback_port()
        endpoint = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **FAKE_AWS_ENVIRONMENT},
                cwd=Path(__file__).parent,
            )
            try:
                if _wait_until_answering(endpoint, process):
                    yield endpoint
                    return
                log.seek(0)
                failures.append(log.read().decode("utf-8", "replace")[-2000:])
            finally:
                _stop(process)
    raise RuntimeError(
        "moto server did not start; is moto[server] installed? Its output:\n"
        + "\n---\n".join(failures)
    )


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2) as r:
                json.load(r)
            # The port answered, and it is our process that owns it (still running).
            return process.poll() is None
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_ENDPOINT = pytest.StashKey[str]()


def _session_endpoint(config: pytest.Config) -> str:
    """The session's one moto server, started on first use and stopped when pytest exits.

    Kept in the config stash rather than in a second fixture so that importing ``moto_ses``
    alone is enough: pytest finds fixtures by name, and a helper fixture would have to be
    imported too.
    """
    if _ENDPOINT not in config.stash:
        stack = contextlib.ExitStack()
        config.stash[_ENDPOINT] = stack.enter_context(running_moto_server())
        config.add_cleanup(stack.close)
    return config.stash[_ENDPOINT]


@pytest.fixture
def moto_ses(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MotoSes:
    """A moto SES server with no identities and no sent messages, and fake AWS credentials."""
    server = MotoSes(endpoint_url=_session_endpoint(request.config))
    server.reset()
    use_fake_aws_credentials(monkeypatch)
    return server


def use_fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give boto3 credentials that sign requests but could not reach a real AWS account."""
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in _UNSET_AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
