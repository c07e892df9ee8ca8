"""The embedded default transport: a folder of .eml files a store owner can open."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from aftercare.emails.kinds import EmailKind
from aftercare.errors import PermanentSendError, TransientSendError
from aftercare.rendering.mime import build_mime, new_message_id
from aftercare.rendering.rendered_email import RenderedEmail
from aftercare.settings import Settings, TransportName
from aftercare.transports import OutgoingMessage
from aftercare.transports.outbox_folder import OutboxFolderTransport
from aftercare.transports.registry import build_transport

SENDER = "hello@fernandfield.example"
RECIPIENT = "ada@customer.example"


def outgoing(
    key: str = "shopify:order:1001:order_confirmation",
    *,
    kind: EmailKind = EmailKind.ORDER_CONFIRMATION,
    subject: str = "Your order #1001 is confirmed",
) -> OutgoingMessage:
    message_id = new_message_id(key, "fernandfield.example")
    email = RenderedEmail(
        kind=kind,
        subject=subject,
        preheader="",
        html="<p>Thank you, Ada!</p>",
        text="Thank you, Ada!",
    )
    mime = build_mime(
        email,
        sender=f"Fern & Field <{SENDER}>",
        recipient=f"Ada Lovelace <{RECIPIENT}>",
        reply_to="support@fernandfield.example",
        message_id=message_id,
        headers={"X-Aftercare-Kind": kind.value},
        date=datetime(2026, 11, 22, 18, 30, 12, tzinfo=UTC),
    )
    return OutgoingMessage(
        idempotency_key=key,
        kind=kind.value,
        sender=SENDER,
        recipient=RECIPIENT,
        message_id=message_id,
        mime=mime,
    )


def emails_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


def test_an_email_becomes_one_eml_file_a_mail_client_can_read(tmp_path: Path) -> None:
    message = outgoing()
    returned_id = OutboxFolderTransport(tmp_path).send(message)

    [eml] = emails_in(tmp_path)
    assert returned_id == eml.name
    parsed = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Your order #1001 is confirmed"
    assert parsed["From"].addresses[0].addr_spec == SENDER
    assert parsed["To"].addresses[0].addr_spec == RECIPIENT
    assert parsed["Message-ID"] == message.message_id
    assert parsed["X-Aftercare-Kind"] == "order_confirmation"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "Thank you, Ada!" in parsed.get_body(("plain",)).get_content()
    assert "<p>Thank you, Ada!</p>" in parsed.get_body(("html",)).get_content()


def test_the_file_holds_exactly_the_bytes_that_were_built(tmp_path: Path) -> None:
    message = outgoing()
    file_name = OutboxFolderTransport(tmp_path).send(message)

    assert (tmp_path / file_name).read_bytes() == message.mime


def test_the_file_name_is_readable_stable_and_free_of_customer_ids(tmp_path: Path) -> None:
    key = "shopify:customer:4242:welcome"
    first = OutboxFolderTransport(tmp_path / "a").send(outgoing(key, kind=EmailKind.WELCOME))
    again = OutboxFolderTransport(tmp_path / "b").send(outgoing(key, kind=EmailKind.WELCOME))

    assert re.fullmatch(r"welcome-[0-9a-f]{16}\.eml", first)
    assert again == first
    assert "4242" not in first


def test_the_outbox_folder_is_created_when_missing(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    OutboxFolderTransport(folder).send(outgoing())

    assert len(emails_in(folder)) == 1


def test_sending_the_same_email_again_writes_no_second_file(tmp_path: Path) -> None:
    transport = OutboxFolderTransport(tmp_path)
    first = outgoing()
    # A retry re-renders: same key, but the content may differ (a new Date, an edited subject).
    retry = outgoing(subject="Your order #1001 is confirmed (edited template)")

    first_id = transport.send(first)
    retry_id = transport.send(retry)

    assert retry_id == first_id
    [eml] = emails_in(tmp_path)
    assert eml.read_bytes() == first.mime


def test_different_emails_get_different_files(tmp_path: Path) -> None:
    transport = OutboxFolderTransport(tmp_path)
    transport.send(outgoing("shopify:order:1001:order_confirmation"))
    transport.send(outgoing("shopify:order:1002:order_confirmation"))

    assert len(emails_in(tmp_path)) == 2


def test_already_sent_is_known_from_the_folder(tmp_path: Path) -> None:
    message = outgoing()
    other = outgoing("shopify:order:1002:order_confirmation")

    assert OutboxFolderTransport(tmp_path).already_sent(message) is False
    OutboxFolderTransport(tmp_path).send(message)

    # A fresh transport (after a restart) still knows: the folder is the record.
    restarted = OutboxFolderTransport(tmp_path)
    assert restarted.already_sent(message) is True
    assert restarted.already_sent(other) is False


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    OutboxFolderTransport(tmp_path).send(outgoing())

    assert [path.name for path in tmp_path.iterdir()] == [emails_in(tmp_path)[0].name]


def test_a_failed_write_leaves_no_half_written_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", disk_full)
    transport = OutboxFolderTransport(tmp_path)
    message = outgoing()

    with pytest.raises(TransientSendError, match="No space left"):
        transport.send(message)
    assert list(tmp_path.iterdir()) == []
    assert transport.already_sent(message) is False


def test_when_another_worker_writes_the_same_email_first_its_file_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link
    competitor = b"written by another worker a moment earlier"

    def another_worker_wins_the_race(source: str, target: str) -> None:
        Path(target).write_bytes(competitor)
        real_link(source, target)

    monkeypatch.setattr(os, "link", another_worker_wins_the_race)
    message = outgoing()
    file_name = OutboxFolderTransport(tmp_path).send(message)

    assert (tmp_path / file_name).read_bytes() == competitor
    assert [path.name for path in tmp_path.iterdir()] == [file_name]


def test_an_outbox_path_that_is_a_file_is_a_permanent_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    not_a_folder = tmp_path / "outbox"
    not_a_folder.write_text("oops")

    with pytest.raises(PermanentSendError, match="AFTERCARE_OUTBOX_DIR") as raised:
        OutboxFolderTransport(not_a_folder).send(outgoing())
    assert str(not_a_folder) in str(raised.value)


def test_build_transport_builds_the_outbox_folder_from_settings(tmp_path: Path) -> None:
    settings = Settings(transport=TransportName.OUTBOX, outbox_dir=tmp_path / "outbox")
    transport = build_transport(settings)

    assert transport.name == "outbox"
    transport.send(outgoing())
    assert len(emails_in(tmp_path / "outbox")) == 1


def test_the_embedded_default_never_imports_boto3(tmp_path: Path) -> None:
    """A new user without AWS pays nothing for SES: boto3 is imported only to build it."""
    script = (
        "import sys\n"
        "from aftercare.settings import Settings\n"
        "from aftercare.transports.registry import build_transport\n"
        f"build_transport(Settings(transport='outbox', outbox_dir={str(tmp_path)!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    found = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def test_an_outgoing_message_keeps_the_customer_address_out_of_its_repr() -> None:
    text = repr(outgoing())

    assert RECIPIENT not in text
    assert "order_confirmation" in text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender", "Fern & Field <hello@fernandfield.example>"),
        ("recipient", "Ada <ada@customer.example>"),
        ("recipient", "ada@customer.example\r\nBcc: evil@attacker.example"),
        ("idempotency_key", ""),
    ],
)
def test_an_outgoing_message_needs_bare_envelope_addresses_and_a_key(
    field: str, value: str
) -> None:
    fields = {
        "idempotency_key": "k",
        "kind": "welcome",
        "sender": SENDER,
        "recipient": RECIPIENT,
        "message_id": "<a@b>",
        "mime": b"",
    }
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        OutgoingMessage(**fields)  # type: ignore[arg-type]


def test_many_emails_are_written_with_one_wait_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aftercare.transports.outbox_folder as folder

    flushes: list[int] = []
    real_flush = folder._flush
    monkeypatch.setattr(
        folder, "_flush", lambda d, paths: (flushes.append(len(paths)), real_flush(d, paths))
    )
    transport = OutboxFolderTransport(tmp_path)
    earlier = outgoing("shopify:order:1000:order_confirmation")
    first_name = transport.send(earlier)
    messages = [outgoing(f"shopify:order:{n}:order_confirmation") for n in range(1000, 1006)]

    outcomes = transport.send_many(messages)

    assert outcomes[0] == first_name  # already there: not written again
    assert outcomes == [folder.eml_file_name(m) for m in messages]
    assert flushes == [1, 5]  # the single send, then one flush for the five new ones
    for message, name in zip(messages, outcomes, strict=True):
        assert (tmp_path / name).read_bytes() == message.mime
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(outcomes)


def test_when_the_disk_flush_fails_no_email_of_the_group_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aftercare.transports.outbox_folder as folder

    def io_error(directory: Path, paths: list[str]) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(folder, "_flush", io_error)
    messages = [outgoing(f"shopify:order:{n}:order_confirmation") for n in range(3)]

    outcomes = OutboxFolderTransport(tmp_path).send_many(messages)

    assert all(isinstance(o, TransientSendError) and "Input/output" in str(o) for o in outcomes)
    assert list(tmp_path.iterdir()) == []


def test_one_email_failing_to_publish_leaves_the_others_of_its_group_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link
    calls: list[str] = []

    def disk_full_once(source: str, target: str) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_link(source, target)

    monkeypatch.setattr(os, "link", disk_full_once)
    messages = [outgoing(f"shopify:order:{n}:order_confirmation") for n in range(3)]

    outcomes = OutboxFolderTransport(tmp_path).send_many(messages)

    assert isinstance(outcomes[1], TransientSendError)
    assert isinstance(outcomes[0], str) and isinstance(outcomes[2], str)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([outcomes[0], outcomes[2]])
