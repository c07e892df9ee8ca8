"""The SES transport, against moto's SES over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aftercare.emails.kinds import EmailKind
from aftercare.errors import PermanentSendError, TransientSendError
from aftercare.rendering.mime import build_mime, new_message_id
from aftercare.rendering.rendered_email import RenderedEmail
from aftercare.settings import SesOptions, Settings, TransportName
from aftercare.transports import OutgoingMessage
from aftercare.transports.registry import build_transport
from aftercare.transports.ses import SesTransport
from tests.ses_server import MotoSes, free_loopback_port, use_fake_aws_credentials

SENDER = "hello@fernandfield.example"
RECIPIENT = "ada@customer.example"
SUBJECT = "Your order #1001 is on its way – Größe M"
TEXT = "Track your parcel: https://fernandfield.example/track/1001"
HTML = '<p>Track your parcel: <a href="https://fernandfield.example/track/1001">here</a></p>'


def outgoing(sender: str = SENDER, kind: EmailKind = EmailKind.ORDER_SHIPPED) -> OutgoingMessage:
    key = "shopify:order:1001:fulfilment:77:shipped"
    message_id = new_message_id(key, "fernandfield.example")
    email = RenderedEmail(kind=kind, subject=SUBJECT, preheader="", html=HTML, text=TEXT)
    mime = build_mime(
        email,
        sender=f"Fern & Field <{sender}>",
        recipient=f"Ada Lovelace <{RECIPIENT}>",
        reply_to="support@fernandfield.example",
        message_id=message_id,
        headers={"X-Aftercare-Kind": kind.value},
        date=datetime(2026, 11, 22, 18, 30, tzinfo=UTC),
    )
    return OutgoingMessage(
        idempotency_key=key,
        kind=kind.value,
        sender=sender,
        recipient=RECIPIENT,
        message_id=message_id,
        mime=mime,
    )


def parse(raw: str) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw.encode("utf-8"))
    assert isinstance(message, EmailMessage)
    return message


def recorded_requests(transport: SesTransport) -> list[dict[str, Any]]:
    """The parameters of every SendEmail call, as boto3 passes them on (not a fake client)."""
    calls: list[dict[str, Any]] = []
    transport.client.meta.events.register(
        "before-parameter-build.sesv2.SendEmail",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


def test_a_verified_sender_s_email_reaches_ses_intact(moto_ses: MotoSes) -> None:
    moto_ses.verify_identity(SENDER)
    message = outgoing()

    ses_message_id = SesTransport(moto_ses.ses_options()).send(message)

    [sent] = moto_ses.sent_raw_messages()
    assert sent["id"] == ses_message_id
    assert sent["source"] == SENDER
    assert RECIPIENT in sent["destinations"]
    assert sent["raw_data"].encode("utf-8") == message.mime  # raw content: byte for byte
    parsed = parse(sent["raw_data"])
    assert parsed["Subject"] == SUBJECT
    assert parsed["To"].addresses[0].addr_spec == RECIPIENT
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert TEXT in parsed.get_body(("plain",)).get_content()
    assert HTML in parsed.get_body(("html",)).get_content()


def test_a_verified_domain_lets_any_of_its_addresses_send(moto_ses: MotoSes) -> None:
    moto_ses.verify_identity("fernandfield.example")

    SesTransport(moto_ses.ses_options()).send(outgoing(sender="orders@fernandfield.example"))

    assert [sent["source"] for sent in moto_ses.sent_raw_messages()] == [
        "orders@fernandfield.example"
    ]


def test_an_unverified_sender_is_a_permanent_error_that_names_the_fix(
    moto_ses: MotoSes,
) -> None:
    moto_ses.verify_identity("someone-else@fernandfield.example")
    transport = SesTransport(moto_ses.ses_options())

    with pytest.raises(PermanentSendError) as raised:
        transport.send(outgoing())

    reason = str(raised.value)
    assert SENDER in reason
    assert "verify this address or its domain in SES (region eu-west-1)" in reason
    assert RECIPIENT not in reason
    assert moto_ses.sent_raw_messages() == []


def test_a_sender_verified_in_another_region_is_rejected_naming_the_region_used(
    moto_ses: MotoSes,
) -> None:
    # SES identities are per region: verifying in eu-west-1 does not let eu-central-1 send.
    moto_ses.verify_identity(SENDER)
    transport = SesTransport(moto_ses.ses_options(region="eu-central-1"))

    with pytest.raises(PermanentSendError) as raised:
        transport.send(outgoing())

    reason = str(raised.value)
    assert SENDER in reason
    assert "verify this address or its domain in SES" in reason
    assert "eu-central-1" in reason
    assert RECIPIENT not in reason
    assert moto_ses.sent_raw_messages() == []


def test_the_request_carries_the_store_tags_and_the_email_kind(moto_ses: MotoSes) -> None:
    moto_ses.verify_identity(SENDER)
    transport = SesTransport(moto_ses.ses_options(message_tags={"store": "fern-and-field"}))
    requests = recorded_requests(transport)

    transport.send(outgoing(kind=EmailKind.ORDER_SHIPPED))

    [request] = requests
    assert request["EmailTags"] == [
        {"Name": "store", "Value": "fern-and-field"},
        {"Name": "aftercare_kind", "Value": "order_shipped"},
    ]
    assert request["FromEmailAddress"] == SENDER
    assert request["Destination"] == {"ToAddresses": [RECIPIENT]}
    assert "ConfigurationSetName" not in request


def test_the_configuration_set_is_named_only_when_configured(moto_ses: MotoSes) -> None:
    moto_ses.verify_identity(SENDER)
    transport = SesTransport(moto_ses.ses_options(configuration_set="aftercare-events"))
    requests = recorded_requests(transport)

    transport.send(outgoing())

    assert [request["ConfigurationSetName"] for request in requests] == ["aftercare-events"]


def test_ses_cannot_tell_whether_a_message_was_already_sent(moto_ses: MotoSes) -> None:
    moto_ses.verify_identity(SENDER)
    transport = SesTransport(moto_ses.ses_options())
    message = outgoing()
    transport.send(message)

    assert transport.already_sent(message) is None


def test_an_unreachable_endpoint_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws_credentials(monkeypatch)
    nothing_listens = f"http://127.0.0.1:{free_loopback_port()}"
    transport = SesTransport(SesOptions(endpoint_url=nothing_listens))

    with pytest.raises(TransientSendError, match="could not reach SES in eu-west-1"):
        transport.send(outgoing())


@pytest.mark.parametrize("tags", [{"store name": "x"}, {"store": "Fern & Field"}, {"store": ""}])
def test_message_tags_ses_would_refuse_are_reported_at_start(tags: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="AFTERCARE_SES__MESSAGE_TAGS"):
        SesTransport(SesOptions(message_tags=tags))


def test_build_transport_builds_ses_from_settings(moto_ses: MotoSes) -> None:
    moto_ses.verify_identity(SENDER)
    settings = Settings(transport=TransportName.SES, ses=moto_ses.ses_options())

    transport = build_transport(settings)

    assert transport.name == "ses"
    transport.send(outgoing())
    assert len(moto_ses.sent_raw_messages()) == 1


# Error responses moto does not produce (throttling, suspension, …) come from a scripted
# endpoint speaking SES v2's wire format, so botocore parses them exactly as it would AWS's.


class ScriptedSes:
    def __init__(self) -> None:
        self.status = 500
        self.code = "InternalFailure"
        self.message = ""
        self.requests = 0


@pytest.fixture
def scripted_ses() -> Iterator[tuple[ScriptedSes, str]]:
    script = ScriptedSes()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            script.requests += 1
            body = json.dumps({"message": script.message}).encode()
            self.send_response(script.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-amzn-ErrorType", script.code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield script, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


ERROR_RESPONSES = [
    (429, "TooManyRequestsException", "Maximum sending rate exceeded.", TransientSendError,
     "throttling"),
    (400, "LimitExceededException", "Daily message quota exceeded.", TransientSendError,
     "sending quota"),
    (500, "InternalFailure", "", TransientSendError, "server-side error"),
    (503, "ServiceUnavailable", "", TransientSendError, "server-side error"),
    (400, "MessageRejected",
     "Email address is not verified. The following identities failed the check in region "
     f"EU-WEST-1: {SENDER}, {RECIPIENT}", PermanentSendError, "request production access"),
    (400, "MailFromDomainNotVerifiedException", "", PermanentSendError, "MX and SPF"),
    (400, "AccountSuspendedException", "", PermanentSendError, "contact AWS support"),
    (400, "SendingPausedException", "", PermanentSendError, "re-enable sending"),
    (404, "NotFoundException", "Configuration set <aftercare-events> does not exist.",
     PermanentSendError, "AFTERCARE_SES__CONFIGURATION_SET"),
    (403, "AccessDeniedException", "", PermanentSendError, "ses:SendEmail"),
    (400, "BadRequestException", f"Illegal address {RECIPIENT}.", PermanentSendError,
     "malformed recipient address"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "code", "message", "expected", "advice"),
    ERROR_RESPONSES,
    ids=[code for _, code, *_ in ERROR_RESPONSES],
)
def test_ses_error_responses_become_send_errors_the_store_owner_can_act_on(
    scripted_ses: tuple[ScriptedSes, str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    code: str,
    message: str,
    expected: type[Exception],
    advice: str,
) -> None:
    script, endpoint = scripted_ses
    script.status, script.code, script.message = status, code, message
    use_fake_aws_credentials(monkeypatch)
    options = SesOptions(endpoint_url=endpoint, configuration_set="aftercare-events")

    with pytest.raises(expected) as raised:
        SesTransport(options).send(outgoing())

    reason = str(raised.value)
    assert advice in reason
    assert code in reason
    assert RECIPIENT not in reason  # customer addresses stay out of errors and logs
    # No hidden retry inside botocore: one attempt, so a timeout can never send twice.
    assert script.requests == 1
