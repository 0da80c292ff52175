"""ValidationRunner's bookkeeping on a real PostgreSQL: claims, leases, re-queues, exactly one event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from contracts import Verdict
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.validator.app import ValidationRunner, validated_event_id
from services.validator.domain import Reason, Result
from services.validator.tables import metadata, outbox, validations
from services.validator.verifier import Verifier


@pytest.fixture
async def runner(migrated_database_url: str, nats_url: str) -> AsyncIterator[ValidationRunner]:
    settings = Settings(
        nats_url=nats_url,
        database_url=migrated_database_url,
        validator_greylist_retry_seconds="60,300",
        validator_held_retry_seconds=120,
    )
    service = Service(name="validator", metadata=metadata, settings=settings)
    async with service.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM validator.validations"))
        await session.execute(text("DELETE FROM validator.outbox"))
    yield ValidationRunner(service, Verifier.from_settings(settings, single_pass=True), settings)
    await service.engine.dispose()


async def queue(runner: ValidationRunner, emails: list[str]) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in emails]
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            validations.insert(),
            [
                {"lead_id": i, "workspace_id": workspace_id, "campaign_id": campaign_id, "email": e}
                for i, e in zip(ids, emails, strict=True)
            ],
        )
    return ids


def result(email: str, reason: Reason, verdict: Verdict) -> Result:
    return Result(email, verdict, reason, mx="mx.firma.cz", smtp_code=250)


async def test_a_claim_whose_lease_ran_out_records_nothing(runner: ValidationRunner) -> None:
    emails = ["a@firma.cz", "b@firma.cz"]
    ids = await queue(runner, emails)
    first = await runner._claim()
    assert sorted(c.lead_id for c in first) == sorted(ids)
    assert await runner._claim() == []  # claimed: nobody else gets them
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE validator.validations SET locked_until = now() - interval '1 second'")
        )
    second = await runner._claim()  # the lease ran out: another worker takes them over
    assert sorted(c.lead_id for c in second) == sorted(ids)

    results = [result(c.email, Reason.ACCEPTED, Verdict.VALID) for c in first]
    await runner._record(first, results)  # too late: the leads are the second claim's now
    async with runner.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(outbox)) == 0
        states = set(await session.scalars(select(validations.c.state)))
        assert states == {"probing"}

    await runner._record(second, [result(c.email, Reason.ACCEPTED, Verdict.VALID) for c in second])
    async with runner.service.sessions() as session:
        events = set(await session.scalars(select(outbox.c.event_id)))
        assert events == {validated_event_id(i) for i in ids}
        rows = (
            await session.execute(select(validations.c.state, validations.c.verdict, validations.c.reason))
        ).all()
        assert {tuple(r) for r in rows} == {("done", "valid", "accepted")}


async def test_unfinished_answers_are_queued_again_and_held_ones_keep_their_attempts(
    runner: ValidationRunner,
) -> None:
    ids = await queue(runner, ["grey@firma.cz", "blocked@firma.cz", "gone@firma.cz"])
    claimed = sorted(await runner._claim(), key=lambda c: ids.index(c.lead_id))
    await runner._record(
        claimed,
        [
            result("grey@firma.cz", Reason.GREYLISTED, Verdict.UNKNOWN),
            result("blocked@firma.cz", Reason.PROBER_BLOCKED, Verdict.UNKNOWN),
            result("gone@firma.cz", Reason.MAILBOX_NOT_FOUND, Verdict.INVALID),
        ],
    )
    async with runner.service.sessions() as session:
        rows = {
            r.lead_id: r
            for r in (
                await session.execute(
                    select(
                        validations.c.lead_id,
                        validations.c.state,
                        validations.c.attempts,
                        validations.c.held,
                        (validations.c.next_attempt_at - func.now()).label("wait"),
                    )
                )
            ).all()
        }
        events = list(await session.scalars(select(outbox.c.event_id)))
    grey, blocked, gone = (rows[i] for i in ids)
    assert (grey.state, grey.attempts, grey.held) == ("queued", 1, False)
    assert 55 <= grey.wait.total_seconds() <= 60  # the first wait of the schedule
    assert (blocked.state, blocked.attempts, blocked.held) == ("queued", 0, True)
    assert 115 <= blocked.wait.total_seconds() <= 120
    assert gone.state == "done"
    assert events == [validated_event_id(ids[2])]  # only the final answer is an event
    assert await runner._claim() == []  # the re-queued ones are not due yet

    # The schedule used up, a greylisted address gets its final answer: unknown.
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE validator.validations SET attempts = 2, next_attempt_at = now() WHERE lead_id = :i"),
            {"i": ids[0]},
        )
    again = await runner._claim()
    assert [c.lead_id for c in again] == [ids[0]]
    await runner._record(again, [result("grey@firma.cz", Reason.GREYLISTED, Verdict.UNKNOWN)])
    async with runner.service.sessions() as session:
        row = (
            await session.execute(
                select(validations.c.state, validations.c.verdict, validations.c.reason).where(
                    validations.c.lead_id == ids[0]
                )
            )
        ).one()
    assert tuple(row) == ("done", "unknown", "greylisted")
