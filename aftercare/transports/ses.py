"""Amazon SES (API v2) transport: hands the finished MIME bytes to ``SendEmail``.

Raw content, not SES's "Simple" content: the message we built (text part, HTML part, later
the PDF invoice, our headers) goes out byte for byte, and the ``.eml`` outbox shows exactly
what SES would have sent.
"""

from __future__ import annotations

import logging
import re

import boto3
import botocore.config
import botocore.exceptions

from aftercare.errors import (
    DeliveryUnknownError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from aftercare.settings import SesOptions
from aftercare.transports import OutgoingMessage

logger = logging.getLogger(__name__)

KIND_TAG = "aftercare_kind"

# SES message tags: ASCII letters, digits, underscores and dashes, at most 256 characters
# ("MessageTag" in the SES API v2 reference).
_TAG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,256}")

# Something@something, not ending in the full stop that ends SES's sentence.
_EMAIL_ADDRESS = re.compile(r"[^\s<>\"',;:@]+@[^\s<>\"',;:@]*[^\s<>\"',;:@.]")

_THROTTLED = {
    "TooManyRequestsException",
    "LimitExceededException",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
}
_SERVER_SIDE = {"InternalFailure", "InternalServerError", "ServiceUnavailable"}
# Temporary credentials that ran out are refreshed by boto3 on the next attempt.
_CREDENTIALS_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_CREDENTIALS_REFUSED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
_INVALID_REQUEST = {"BadRequestException", "InvalidParameterValue", "ValidationException"}


class SesTransport:
    """Sends through the SES v2 ``SendEmail`` API with one boto3 client per transport."""

    name = "ses"

    def __init__(self, options: SesOptions) -> None:
        self.options = options
        self._tags = _configured_tags(options.message_tags)
        # One Session per transport: boto3's default session is not safe to create clients
        # from concurrently, and building a client costs tens of milliseconds.
        self.client = boto3.session.Session().client(
            "sesv2",
            region_name=options.region,
            endpoint_url=options.endpoint_url,
            config=botocore.config.Config(
                # No retries inside botocore: a retry after a read timeout can deliver the
                # email twice, and the send step already retries with backoff and records
                # every attempt. One retry policy, in one place.
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=30,
                user_agent_extra="aftercare",
            ),
        )

    def send(self, message: OutgoingMessage) -> str:
        request: dict[str, object] = {
            "FromEmailAddress": message.sender,
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": message.mime}},
            "EmailTags": [
                {"Name": name, "Value": value}
                for name, value in {**self._tags, KIND_TAG: message.kind}.items()
            ],
        }
        if self.options.configuration_set:
            request["ConfigurationSetName"] = self.options.configuration_set
        try:
            response = self.client.send_email(**request)
        except botocore.exceptions.ClientError as error:
            raise send_error_from(error, sender=message.sender, options=self.options) from None
        except botocore.exceptions.ReadTimeoutError:
            raise DeliveryUnknownError(
                f"SES in {self.options.region} did not answer in time; it may or may not have "
                "accepted the email"
            ) from None
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
            raise TransientSendError(
                f"could not reach SES in {self.options.region} ({type(error).__name__}): "
                "check the network, or AFTERCARE_SES__ENDPOINT_URL if you set one"
            ) from None
        except (
            botocore.exceptions.NoCredentialsError,
            botocore.exceptions.PartialCredentialsError,
        ) as error:
            raise PermanentSendError(
                f"no usable AWS credentials for SES ({error}): set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the machine an IAM role"
            ) from None
        ses_message_id = str(response["MessageId"])
        logger.info(
            "SES accepted %s email %s as %s", message.kind, message.message_id, ses_message_id
        )
        return ses_message_id

    def already_sent(self, message: OutgoingMessage) -> bool | None:
        """Unknown: SES offers no lookup of sent messages by our key or Message-ID."""
        return None


def send_error_from(
    error: botocore.exceptions.ClientError, *, sender: str, options: SesOptions
) -> SendError:
    """Classify an SES error response and say what the store owner can do about it.

    Error codes are those the SES v2 ``SendEmail`` reference lists, plus the generic AWS ones
    (throttling, credentials, 5xx). Customer addresses in SES's own message are masked:
    this text ends up in logs and in the outbox row.
    """
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = _mask_addresses(str(error.response.get("Error", {}).get("Message", "")), sender)
    region = options.region
    why = f"[{code or status}: {detail}]" if detail else f"[{code or status}]"

    if code in _THROTTLED:
        return TransientSendError(
            f"SES is throttling sends in {region} (sending rate or daily quota reached) {why}; "
            "if this persists, request a higher sending quota in the SES console"
        )
    if code in _SERVER_SIDE or status >= 500:
        return TransientSendError(f"SES in {region} had a server-side error {why}")
    if code in _CREDENTIALS_EXPIRED:
        return TransientSendError(f"the AWS credentials for SES had expired {why}")
    if code == "MessageRejected":
        if "verif" in detail.lower() or "authority" in detail.lower():
            return PermanentSendError(
                f"SES rejected the sender {sender}: verify this address or its domain in SES "
                f"(region {region}); while the account is in the SES sandbox, recipients must "
                f"be verified too, so request production access {why}"
            )
        return PermanentSendError(f"SES rejected the message from {sender} {why}")
    if code == "MailFromDomainNotVerifiedException":
        return PermanentSendError(
            f"the custom MAIL FROM domain of {sender} is not verified in SES (region {region}): "
            f"publish its MX and SPF records, or turn the custom MAIL FROM domain off {why}"
        )
    if code == "AccountSuspendedException":
        return PermanentSendError(
            f"SES has suspended sending for this AWS account in {region}: see the SES account "
            f"dashboard and contact AWS support {why}"
        )
    if code == "SendingPausedException":
        return PermanentSendError(
            f"sending is paused for this SES account or configuration set in {region}: "
            f"re-enable sending in the SES console, then retry these emails {why}"
        )
    if code == "NotFoundException" and options.configuration_set:
        return PermanentSendError(
            f"SES has no configuration set {options.configuration_set!r} in {region}: create "
            f"it, or unset AFTERCARE_SES__CONFIGURATION_SET {why}"
        )
    if code in _CREDENTIALS_REFUSED:
        return PermanentSendError(
            f"AWS refused the credentials for SES in {region}: check them and allow "
            f"ses:SendEmail on the sender's identity {why}"
        )
    if code in _INVALID_REQUEST:
        return PermanentSendError(
            f"SES refused the email as invalid (often a malformed recipient address) {why}"
        )
    if 400 <= status < 500:
        return PermanentSendError(f"SES refused the email {why}")
    return TransientSendError(f"SES send failed {why}")


def _configured_tags(tags: dict[str, str]) -> dict[str, str]:
    """The store's message tags, checked now: SES would refuse every email for a bad one."""
    for name, value in tags.items():
        if not (_TAG_TEXT.fullmatch(name) and _TAG_TEXT.fullmatch(value)):
            raise ValueError(
                f"SES message tag {name!r}={value!r} in AFTERCARE_SES__MESSAGE_TAGS: names and "
                "values may only use ASCII letters, digits, '_' and '-' (up to 256 characters)"
            )
        if name == KIND_TAG:
            raise ValueError(f"SES message tag {KIND_TAG!r} is set by Aftercare to the email kind")
    return dict(tags)


def _mask_addresses(text: str, sender: str) -> str:
    """``text`` with every email address except the store's own sender replaced."""
    return _EMAIL_ADDRESS.sub(
        lambda match: match.group(0) if match.group(0).lower() == sender.lower() else "<address>",
        text,
    )
