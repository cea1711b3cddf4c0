"""One ItemsTable stream record -> the order change it describes, or a PermanentError saying why not.

Parsing is split in two on purpose: the header (keys, sequence number, event name) is enough to tell
whether the record is stale, and a stale record is skipped before its image is validated. A bad
record that a later change of the same order has already superseded is then harmless; a bad record
that is the newest word on its order fails and goes to the OnFailure destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from customer_aggregates import OrderContribution
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from lambda_toolkit.errors import PermanentError
from lambda_toolkit.validation import permanent_error

EventName = Literal["INSERT", "MODIFY", "REMOVE"]
EVENT_NAMES: frozenset[str] = frozenset({"INSERT", "MODIFY", "REMOVE"})

# Stream sequence numbers are decimal strings of 21 to 40 digits (DynamoDB Streams API reference).
MAX_SEQUENCE_DIGITS = 40

# ISO 4217 currency codes in use (2025), without XXX ("no currency"), XTS (testing), precious metals
# and bond-market units: a total in any other code cannot be added to a sum that means money.
ISO_4217_CURRENCIES: frozenset[str] = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK",
    "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
})


@dataclass(frozen=True)
class ChangeHeader:
    """Which order changed, how, and where in the stream."""

    customer_id: str
    order_id: str
    sequence_number: int
    event_name: EventName

    @property
    def log_keys(self) -> dict[str, Any]:
        return {"sequence_number": str(self.sequence_number), "eventName": self.event_name,
                "customer_id": self.customer_id, "order_id": self.order_id}


class OrderImage(BaseModel):
    """The part of an ItemsTable item the aggregates use; other attributes are not this consumer's."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    customer_id: Annotated[str, Strict(), Field(min_length=1)]
    order_id: Annotated[str, Strict(), Field(min_length=1)]
    currency: Annotated[str, Strict()]
    # DynamoDB hands numbers over as Decimal; strict refuses a total stored as a string. The digit
    # limits keep every sum exact within DynamoDB's 38 significant digits.
    total: Annotated[Decimal, Strict(), Field(ge=0, max_digits=20, decimal_places=6)]
    written_at: AwareDatetime

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in ISO_4217_CURRENCIES:
            raise ValueError(f"unknown currency {value!r} (not an ISO 4217 code)")
        return value

    @field_validator("written_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # A number would be read as epoch seconds; ItemsTable stores ISO-8601 text, so anything else
        # is a malformed image rather than something to guess about.
        if not isinstance(value, str):
            # ValueError, not TypeError: pydantic turns only ValueError into a validation error.
            raise ValueError("written_at must be ISO-8601 text")
        return value

    def contribution(self) -> OrderContribution:
        return OrderContribution(self.currency, self.total, self.written_at.astimezone(UTC))


def as_record(record: DynamoDBRecord | Mapping[str, Any]) -> DynamoDBRecord:
    return record if isinstance(record, DynamoDBRecord) else DynamoDBRecord(dict(record))


def sequence_number_of(record: DynamoDBRecord) -> str:
    """The record's itemIdentifier for the partial batch response.

    Lambda always sends a SequenceNumber; a record without one can only be hand-made, and the empty
    identifier makes Lambda fail (and so retry, bisect and finally dead-letter) the whole batch.
    """
    stream = record.get("dynamodb") or {}
    return str(stream.get("SequenceNumber", ""))


def read_header(record: DynamoDBRecord) -> ChangeHeader:
    stream: Mapping[str, Any] = record.get("dynamodb") or {}
    sequence_text = stream.get("SequenceNumber")
    if not isinstance(sequence_text, str) or not sequence_text.isdigit() or len(sequence_text) > MAX_SEQUENCE_DIGITS:
        raise PermanentError("bad_sequence_number", f"SequenceNumber {sequence_text!r} is not a stream sequence number")
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise PermanentError("unknown_event_name", f"eventName {event_name!r} is not INSERT, MODIFY or REMOVE")
    keys = _deserialized(record, "Keys", "malformed_keys")
    customer_id, order_id = keys.get("customer_id"), keys.get("order_id")
    if not isinstance(customer_id, str) or not customer_id or not isinstance(order_id, str) or not order_id:
        raise PermanentError(
            "malformed_keys", f"Keys {sorted(keys)} do not hold string customer_id and order_id", details=str(keys)
        )
    return ChangeHeader(customer_id, order_id, int(sequence_text), event_name)


def new_contribution(record: DynamoDBRecord, header: ChangeHeader) -> OrderContribution | None:
    """What the order contributes after this change: None for a REMOVE."""
    if header.event_name == "REMOVE":
        return None
    contribution = _image(record, header, "NewImage")
    if contribution is None:
        raise PermanentError(
            "missing_newimage",
            f"{header.event_name} record has no NewImage (is the stream's view type NEW_AND_OLD_IMAGES?)",
        )
    return contribution


def old_contribution(record: DynamoDBRecord, header: ChangeHeader) -> OrderContribution | None:
    """What the record says the order contributed before the change, for diagnostics only."""
    if header.event_name == "INSERT":
        return None
    try:
        return _image(record, header, "OldImage")
    except PermanentError:
        return None


def _image(record: DynamoDBRecord, header: ChangeHeader, name: str) -> OrderContribution | None:
    stream: Mapping[str, Any] = record.get("dynamodb") or {}
    if not stream.get(name):
        return None
    document = _deserialized(record, name, "malformed_image")
    try:
        image = OrderImage.model_validate(document)
    except ValidationError as error:
        bad_currency = any(issue["loc"] == ("currency",) for issue in error.errors())
        reason = "unknown_currency" if bad_currency else "malformed_image"
        raise permanent_error(error, reason, root=name, message_prefix=f"{name}: ") from error
    if (image.customer_id, image.order_id) != (header.customer_id, header.order_id):
        raise PermanentError("key_mismatch", f"{name} keys differ from the record's Keys")
    return image.contribution()


def _deserialized(record: DynamoDBRecord, name: str, reason: str) -> dict[str, Any]:
    stream = record.dynamodb
    if stream is None:
        raise PermanentError(reason, "the record has no dynamodb section")
    try:
        if name == "Keys":
            return stream.keys
        return stream.new_image if name == "NewImage" else stream.old_image
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as error:
        raise PermanentError(reason, f"{name} is not in DynamoDB JSON: {error!r}") from error
