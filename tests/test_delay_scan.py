"""The delay scan: late orders get one notice per stage, on a hand-moved clock, against
the real database (SQLite and PostgreSQL) and the real drain."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aftercare.drain import drain, receive_event
from aftercare.drain.delay_scan import scan_for_delays
from aftercare.drain.pipeline import Pipeline
from aftercare.enrichment.delay_stages import DelayRules, DelayStage, late_order, next_check
from aftercare.events import ShipmentStatus
from aftercare.sample_store import orders
from aftercare.settings import StoreFacts
from aftercare.storage.schema import DelayNoticeRow, InboxEventRow, OrderRow, OutboxEmailRow
from tests.conftest import Clock

# These tests are about the send window: they keep the default hours (tests/conftest.py).
pytestmark = pytest.mark.real_send_window

BERLIN_MORNING = 7  # 08:00 or 09:00 in Berlin, in UTC hours
RULES = DelayRules()
STORE = StoreFacts()


def at(day: date, hour: int = BERLIN_MORNING) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _notices(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return [
            (row.stage, row.why)
            for row in s.scalars(select(DelayNoticeRow).order_by(DelayNoticeRow.id))
        ]


def _delay_emails(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).where(OutboxEmailRow.kind == "order_delayed"))


def _placed(pipeline: Pipeline, clock: Clock) -> None:
    receive_event(pipeline, orders.placed())
    drain(pipeline)


# --- the rules, on plain data ----------------------------------------------------------------


def test_an_unshipped_order_is_late_after_its_ship_by_date_and_the_grace() -> None:
    state = replace(orders.state_after(orders.placed()), promised_ship_by=date(2024, 6, 7))
    # ship by Friday, one business day of grace (Monday): late from Tuesday
    assert late_order(state, at(date(2024, 6, 10)), RULES, STORE) is None
    late = late_order(state, at(date(2024, 6, 11)), RULES, STORE)
    assert late is not None and late.stage is DelayStage.BEFORE_SHIPPING
    assert late.since == date(2024, 6, 11) and "2024-06-07" in late.why
    assert next_check(state, RULES, STORE) == datetime(2024, 6, 11, tzinfo=STORE_ZONE())


def STORE_ZONE():  # noqa: ANN201, N802 - the store's zone, for the expected value
    from zoneinfo import ZoneInfo

    return ZoneInfo(STORE.time_zone)


def test_public_holidays_do_not_count_as_grace() -> None:
    # ship by Wednesday 23 December 2026; the 24th is a business day in Germany, the 25th
    # and 26th are public holidays: late from the 25th (the day after the grace)
    state = replace(orders.state_after(orders.placed()), promised_ship_by=date(2026, 12, 23))
    assert late_order(state, at(date(2026, 12, 24)), RULES, STORE) is None
    assert late_order(state, at(date(2026, 12, 25)), RULES, STORE) is not None
    longer = RULES.model_copy(update={"grace_business_days": 2})
    # two business days of grace: the 24th and Monday the 28th
    assert late_order(state, at(date(2026, 12, 28)), longer, STORE) is None
    assert late_order(state, at(date(2026, 12, 29)), longer, STORE) is not None


def test_a_parcel_the_carrier_is_silent_about_is_late_in_transit() -> None:
    placed = orders.placed()
    shipped = orders.shipped()  # Wednesday 5 June 2024
    state = replace(
        orders.state_after(placed, shipped),
        promised_ship_by=date(2024, 6, 7),
        promised_deliver_by=date(2024, 6, 20),
    )
    # no word for 3 business days (domestic): Thu, Fri, Mon; late from Tuesday the 11th
    assert late_order(state, at(date(2024, 6, 10)), RULES, STORE) is None
    late = late_order(state, at(date(2024, 6, 11)), RULES, STORE)
    assert late is not None and late.stage is DelayStage.IN_TRANSIT
    assert "no word from the carrier" in late.why
    abroad = orders.address(city="Zürich", postal_code="8001", country_code="CH")
    swiss = replace(state, order=state.order.model_copy(update={"shipping_address": abroad}))
    assert late_order(swiss, at(date(2024, 6, 11)), RULES, STORE) is None  # 5 days abroad
    assert late_order(swiss, at(date(2024, 6, 13)), RULES, STORE) is not None


@pytest.mark.parametrize("ending", ["cancelled", "refunded", "delivered"])
def test_cancelled_refunded_and_delivered_orders_are_never_late(ending: str) -> None:
    placed = orders.placed()
    state = replace(orders.state_after(placed), promised_ship_by=date(2024, 6, 7))
    if ending == "cancelled":
        state = replace(
            state, order=state.order.model_copy(update={"cancelled_at": orders.PLACED_AT})
        )
    elif ending == "refunded":
        whole = orders.refund(amount=state.order.costs.total, items=())
        state = replace(state, refunds=(whole,))
    else:
        parcel = orders.fulfilment(status=ShipmentStatus.DELIVERED.value)
        state = replace(state, fulfilments=(parcel,), promised_deliver_by=date(2024, 6, 12))
    later = at(date(2024, 7, 30))
    assert late_order(state, later, RULES, STORE) is None
    assert next_check(state, RULES, STORE) is None


# --- the scan, on the database ---------------------------------------------------------------


def test_the_scan_raises_one_notice_and_the_drain_sends_it(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    with Session(engine) as s:
        check = s.scalar(select(OrderRow.delay_check_at))
    assert check is not None and check.date() == date(2024, 6, 10)  # midnight Berlin, in UTC
    clock.now = at(date(2024, 6, 10))
    assert scan_for_delays(pipeline).late == []
    clock.now = at(date(2024, 6, 11))
    report = scan_for_delays(pipeline)
    assert [(f.order_number, f.stage, f.notified) for f in report.late] == [
        ("#1001", "before_shipping", True)
    ]
    drain(pipeline)
    assert _delay_emails(engine) == 1
    clock.now += timedelta(hours=1)
    again = scan_for_delays(pipeline)
    assert again.late == [] and again.looked_at <= 1
    drain(pipeline)
    assert _delay_emails(engine) == 1 and len(_notices(engine)) == 1


def test_a_dry_run_reports_and_writes_nothing(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 12))
    report = scan_for_delays(pipeline, dry_run=True)
    assert [(f.stage, f.notified) for f in report.late] == [("before_shipping", False)]
    assert _notices(engine) == []
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboxEventRow)) == 1  # the order only
    assert len(scan_for_delays(pipeline).late) == 1  # the real run still finds it


def test_two_scans_at_once_raise_one_notice(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    for n in range(20):
        order = orders.order(external_id=f"o-{n}", number=f"#{n}")
        receive_event(pipeline, orders.placed(f"p-{n}", order=order))
    drain(pipeline)
    clock.now = at(date(2024, 6, 12))
    barrier = threading.Barrier(2)
    reports = []

    def scan() -> None:
        barrier.wait()
        reports.append(scan_for_delays(pipeline))

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.notices for r in reports) == 20
    assert len(_notices(engine)) == 20
    drain(pipeline)
    assert _delay_emails(engine) == 20


def test_an_order_that_ships_after_its_notice_is_told_again_only_in_transit(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 11))
    assert scan_for_delays(pipeline).notices == 1
    shipped_at = at(date(2024, 6, 12), 12)
    receive_event(pipeline, orders.shipped(at=shipped_at))
    clock.now = shipped_at + timedelta(minutes=5)
    drain(pipeline)
    # the parcel left: the before-shipping stage is not raised again, and nothing is late
    clock.now = at(date(2024, 6, 14))
    assert scan_for_delays(pipeline).late == []
    # three business days without a word from the carrier: late in transit, once
    clock.now = at(date(2024, 6, 18))
    report = scan_for_delays(pipeline)
    assert [(f.stage, f.notified) for f in report.late] == [("in_transit", True)]
    assert [stage for stage, _ in _notices(engine)] == ["before_shipping", "in_transit"]


def test_a_refund_after_the_notice_stops_the_scan(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 11))
    assert scan_for_delays(pipeline).notices == 1
    total = orders.order().costs.total
    refunded_at = clock.now + timedelta(hours=1)
    whole = orders.refund(amount=total, items=(), created_at=refunded_at)
    receive_event(pipeline, orders.refunded(refund=whole))
    clock.now += timedelta(hours=2)
    drain(pipeline)
    with Session(engine) as s:
        assert s.scalar(select(OrderRow.delay_check_at)) is None
    clock.now = at(date(2024, 7, 1))
    assert scan_for_delays(pipeline).late == []
    assert Decimal(total) > 0


@pytest.mark.prefect
def test_scan_delays_from_the_command_line_and_as_a_flow(
    prefect_api: str,
    database_url: str,
    engine: Engine,
    tmp_path,
    monkeypatch,  # noqa: ANN001
) -> None:
    from typer.testing import CliRunner

    from aftercare.drain import build_pipeline
    from aftercare.settings import Settings
    from aftercare.storage.database import session_factory
    from flows.cli import app
    from flows.scan_for_delays import scan_for_delays as scan_flow

    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("COLUMNS", "200")
    # the flow runs on the real clock: no send window, or at night the notice would wait
    monkeypatch.setenv("AFTERCARE_DELAYS__SEND_WINDOW_START", "00:00")
    monkeypatch.setenv("AFTERCARE_DELAYS__SEND_WINDOW_END", "00:00")
    settings = Settings(_env_file=None, database_url=database_url, outbox_dir=tmp_path / "o")
    placed_then = Clock(orders.PLACED_AT + timedelta(minutes=5))
    pipeline = replace(
        build_pipeline(settings), sessions=session_factory(engine), clock=placed_then
    )
    # received when placed (June 2024), never shipped: late before shipping today
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    dry = CliRunner().invoke(app, ["scan-delays", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "#1001" in dry.output and "would raise" in dry.output
    assert "1 late, 0 notices raised" in dry.output and _notices(engine) == []
    result = scan_flow()
    assert result["notices"] == 1 and result["sent"] == 1
    again = CliRunner().invoke(app, ["scan-delays"])
    assert again.exit_code == 0 and "0 late" in again.output
    assert _delay_emails(engine) == 1


def test_a_store_delay_event_after_the_scans_notice_is_not_sent_again(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 11))
    assert scan_for_delays(pipeline).notices == 1
    drain(pipeline)
    # the store's own delay webhook for the same stage, minutes later
    receive_event(pipeline, orders.delayed(at=clock.now + timedelta(minutes=10)))
    clock.now += timedelta(minutes=15)
    drain(pipeline)
    assert _delay_emails_sent(engine) == 1
    with Session(engine) as s:
        skipped = s.scalars(
            select(OutboxEmailRow).where(
                OutboxEmailRow.kind == "order_delayed", OutboxEmailRow.status == "skipped"
            )
        ).all()
    assert len(skipped) == 1
    assert "the delay scan already told the customer" in " ".join(skipped[0].explanation["notes"])


def test_a_store_delay_event_first_keeps_the_scan_from_raising_its_own(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    receive_event(pipeline, orders.delayed(at=at(date(2024, 6, 10))))
    clock.now = at(date(2024, 6, 10), 8)
    drain(pipeline)
    assert _delay_emails_sent(engine) == 1
    clock.now = at(date(2024, 6, 12))
    assert scan_for_delays(pipeline).notices == 0
    drain(pipeline)
    assert _delay_emails_sent(engine) == 1


def _delay_emails_sent(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(
            select(func.count()).where(
                OutboxEmailRow.kind == "order_delayed", OutboxEmailRow.status != "skipped"
            )
        )


def test_a_notice_found_at_night_waits_for_the_customers_morning(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    bangkok = orders.address(city="Bangkok", postal_code="10110", country_code="TH")
    receive_event(pipeline, orders.placed(order=orders.order(shipping_address=bangkok)))
    drain(pipeline)
    # 01:00 UTC on 12 June is 08:00 in Bangkok (the window opens), 03:00 in Berlin
    clock.now = datetime(2024, 6, 12, 0, 30, tzinfo=UTC)  # 07:30 in Bangkok: too early
    assert scan_for_delays(pipeline).notices == 1
    drain(pipeline)
    with Session(engine) as s:
        email = s.scalars(
            select(OutboxEmailRow).where(OutboxEmailRow.kind == "order_delayed")
        ).one()
    assert email.status == "pending"
    assert email.next_attempt_at == datetime(2024, 6, 12, 1, 0, tzinfo=UTC)  # 08:00 Bangkok
    clock.now = datetime(2024, 6, 12, 1, 1, tzinfo=UTC)
    drain(pipeline)
    with Session(engine) as s:
        assert (
            s.scalar(select(OutboxEmailRow.status).where(OutboxEmailRow.id == email.id)) == "sent"
        )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Berlin, the night before summer time starts (29 March 2026, 02:00 → 03:00)
        (datetime(2026, 3, 28, 21, 0, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # the night winter time returns (25 October 2026, 03:00 → 02:00)
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        # inside the window: at once
        (datetime(2026, 6, 1, 10, 0, tzinfo=UTC), datetime(2026, 6, 1, 10, 0, tzinfo=UTC)),
        # early morning: the same day's 09:00
        (datetime(2026, 1, 5, 5, 0, tzinfo=UTC), datetime(2026, 1, 5, 8, 0, tzinfo=UTC)),
    ],
)
def test_the_send_window_is_the_customers_wall_clock_across_dst(
    now: datetime, expected: datetime
) -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    from aftercare.enrichment.send_window import next_in_window

    assert next_in_window(now, ZoneInfo("Europe/Berlin"), time(9), time(20)) == expected
    assert next_in_window(now, ZoneInfo("Europe/Berlin"), time(0), time(0)) == now


def test_a_follow_up_only_when_the_new_date_passes_too(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 11))
    first = scan_for_delays(pipeline)
    assert first.notices == 1 and first.late[0].new_estimated_delivery == "2024-06-19"
    # the notice's new ship-by (Friday the 14th) plus a day of grace: not late again before
    # Tuesday the 18th
    clock.now = at(date(2024, 6, 17))
    assert scan_for_delays(pipeline).late == []
    clock.now = at(date(2024, 6, 18))
    assert scan_for_delays(pipeline).notices == 1
    with Session(engine) as s:
        rounds = s.execute(select(DelayNoticeRow.stage, DelayNoticeRow.round)).all()
    assert sorted(rounds) == [("before_shipping", 1), ("before_shipping", 2)]
    # one follow-up by default: never a third
    clock.now = at(date(2024, 8, 1))
    assert scan_for_delays(pipeline).late == []
    drain(pipeline)
    assert _delay_emails(engine) == 2


def test_without_follow_ups_a_stage_is_told_once(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    settings = clocked_pipeline.settings
    rules = settings.delays.model_copy(update={"follow_ups": 0})
    pipeline = replace(clocked_pipeline, settings=settings.model_copy(update={"delays": rules}))
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 11))
    assert scan_for_delays(pipeline).notices == 1
    clock.now = at(date(2024, 8, 1))
    assert scan_for_delays(pipeline).late == []


def test_a_notice_offers_to_send_what_is_ready_when_part_waits_for_stock(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    import email as email_lib
    from email import policy

    pipeline = clocked_pipeline
    lines = orders.line_items()
    waiting = lines[0].model_copy(update={"backordered": True})
    order = orders.order(line_items=(waiting, *lines[1:]))
    receive_event(pipeline, orders.placed(order=order))
    drain(pipeline)
    clock.now = at(date(2024, 6, 11))
    assert scan_for_delays(pipeline).notices == 1
    drain(pipeline)
    with Session(engine) as s:
        mime = s.scalar(select(OutboxEmailRow.mime).where(OutboxEmailRow.kind == "order_delayed"))
    text = email_lib.message_from_bytes(mime, policy=policy.default)
    body = text.get_body(preferencelist=("plain",)).get_content()
    assert "Send what is ready now" in body and waiting.title in body
    assert "choice=ship_ready_now" in body


def test_a_notice_for_a_whole_order_in_stock_offers_no_split(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = at(date(2024, 6, 11))
    scan_for_delays(pipeline)
    drain(pipeline)
    with Session(engine) as s:
        mime = s.scalar(select(OutboxEmailRow.mime).where(OutboxEmailRow.kind == "order_delayed"))
    assert b"ship_ready_now" not in mime and b"keep_waiting" in mime


def test_each_coupon_of_the_pool_goes_with_one_notice_only(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    from aftercare.storage.schema import DelayCouponRow

    settings = clocked_pipeline.settings
    rules = settings.delays.model_copy(
        update={"coupon_codes": ("SORRY-1", "SORRY-2"), "coupon_description": "10 % off"}
    )
    pipeline = replace(clocked_pipeline, settings=settings.model_copy(update={"delays": rules}))
    for n in range(3):
        order = orders.order(external_id=f"o-{n}", number=f"#{n}")
        receive_event(pipeline, orders.placed(f"p-{n}", order=order))
    drain(pipeline)
    clock.now = at(date(2024, 6, 11))
    assert scan_for_delays(pipeline).notices == 3
    drain(pipeline)
    with Session(engine) as s:
        given = s.execute(
            select(DelayCouponRow.code, DelayCouponRow.notice_id).order_by(DelayCouponRow.code)
        ).all()
        mimes = s.scalars(
            select(OutboxEmailRow.mime).where(OutboxEmailRow.kind == "order_delayed")
        ).all()
    assert [code for code, _ in given] == ["SORRY-1", "SORRY-2"]
    assert len({notice for _, notice in given}) == 2  # two notices, one code each
    shown = [m for m in mimes if b"SORRY-" in m]
    assert len(shown) == 2 and all(b"10 % off" in m for m in shown)  # the third got none
    with Session(engine) as s:
        notes = [
            note
            for row in s.scalars(
                select(OutboxEmailRow).where(OutboxEmailRow.kind == "order_delayed")
            )
            for note in row.explanation["notes"]
            if note.startswith("coupon ")
        ]
    assert sorted(notes) == [
        "coupon SORRY-1 given with this notice",
        "coupon SORRY-2 given with this notice",
    ]


def test_a_cancellation_after_the_notice_stops_the_scan_and_a_waiting_notice(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    clock.now = datetime(2024, 6, 11, 2, 0, tzinfo=UTC)  # 04:00 in Berlin: the notice waits
    assert scan_for_delays(pipeline).notices == 1
    drain(pipeline)
    cancelled_at = clock.now + timedelta(hours=1)
    from aftercare.events import EventKind, OrderEvent

    cancelled = OrderEvent(
        kind=EventKind.ORDER_CANCELLED,
        source=orders.SOURCE,
        source_event_id="evt-cancelled",
        order_id="o-1001",
        occurred_at=cancelled_at,
        order=orders.order(cancelled_at=cancelled_at),
        customer=orders.customer(),
    )
    receive_event(pipeline, cancelled)
    clock.now = at(date(2024, 6, 11), 9)  # the customer's morning
    drain(pipeline)
    with Session(engine) as s:
        delayed = s.scalars(
            select(OutboxEmailRow).where(OutboxEmailRow.kind == "order_delayed")
        ).one()
        assert s.scalar(select(OrderRow.delay_check_at)) is None
    # cancelled before the customer's morning: recorded, not sent
    assert delayed.status == "skipped" and "cancelled" in delayed.last_error
    clock.now = at(date(2024, 7, 1))
    assert scan_for_delays(pipeline).late == []


def test_a_carrier_delay_report_after_the_scans_in_transit_notice_is_not_sent_again(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    pipeline = clocked_pipeline
    _placed(pipeline, clock)
    shipped_at = at(date(2024, 6, 5), 12)
    receive_event(pipeline, orders.shipped(at=shipped_at))
    clock.now = shipped_at + timedelta(minutes=5)
    drain(pipeline)
    clock.now = at(date(2024, 6, 11))  # three business days without a word
    report = scan_for_delays(pipeline)
    assert [(f.stage, f.notified) for f in report.late] == [("in_transit", True)]
    drain(pipeline)
    # the carrier finally speaks: the parcel is delayed, which the customer was told
    receive_event(pipeline, orders.carrier_report(at=clock.now + timedelta(hours=1)))
    clock.now += timedelta(hours=2)
    drain(pipeline)
    assert _delay_emails_sent(engine) == 1
    with Session(engine) as s:
        statuses = sorted(
            s.scalars(
                select(OutboxEmailRow.status).where(OutboxEmailRow.kind == "order_delayed")
            ).all()
        )
    assert statuses == ["sent", "skipped"]
