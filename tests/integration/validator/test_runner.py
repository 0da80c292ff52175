"""ValidationRunner's bookkeeping on a real PostgreSQL: claims, leases, re-queues, fairness, re-runs and
exactly one event per recorded batch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from contracts import Verdict
from contracts.events import LeadsValidated, parse_event
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.validator.domain import ValidationState, validated_event_id
from services.validator.fair_claim import Queue
from services.validator.repository import ValidationRepository
from services.validator.runner import BATCH, LEASE, ValidationRunner
from services.validator.tables import metadata, outbox, validations
from services.validator.verdicts import Reason, Result
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


async def queue(
    runner: ValidationRunner,
    emails: list[str],
    workspace_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in emails]
    workspace_id, campaign_id = workspace_id or uuid.uuid4(), campaign_id or uuid.uuid4()
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
    first = await runner.claim()
    assert sorted(c.lead_id for c in first) == sorted(ids)
    assert await runner.claim() == []  # claimed: nobody else gets them
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE validator.validations SET locked_until = now() - interval '1 second'")
        )
    second = await runner.claim()  # the lease ran out: another worker takes them over
    assert sorted(c.lead_id for c in second) == sorted(ids)

    results = [result(c.email, Reason.ACCEPTED, Verdict.VALID) for c in first]
    await runner.record(first, results)  # too late: the leads are the second claim's now
    async with runner.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(outbox)) == 0
        states = set(await session.scalars(select(validations.c.state)))
        assert states == {ValidationState.PROBING}

    await runner.record(second, [result(c.email, Reason.ACCEPTED, Verdict.VALID) for c in second])
    async with runner.service.sessions() as session:
        payloads = list(await session.scalars(select(outbox.c.payload)))
        [event] = [parse_event(p) for p in payloads]
        assert isinstance(event, LeadsValidated)
        assert event.event_id == validated_event_id(event.campaign_id, [(i, 0) for i in ids])
        assert sorted(v.lead_id for v in event.leads) == sorted(ids)
        rows = (
            await session.execute(select(validations.c.state, validations.c.verdict, validations.c.reason))
        ).all()
        assert {tuple(r) for r in rows} == {("done", "valid", "accepted")}


async def test_unfinished_answers_are_queued_again_and_held_ones_keep_their_attempts(
    runner: ValidationRunner,
) -> None:
    ids = await queue(runner, ["grey@firma.cz", "blocked@firma.cz", "gone@firma.cz"])
    claimed = sorted(await runner.claim(), key=lambda c: ids.index(c.lead_id))
    await runner.record(
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
    assert (grey.state, grey.attempts, grey.held) == (ValidationState.QUEUED, 1, False)
    assert 55 <= grey.wait.total_seconds() <= 60  # the first wait of the schedule
    assert (blocked.state, blocked.attempts, blocked.held) == (ValidationState.QUEUED, 0, True)
    assert 115 <= blocked.wait.total_seconds() <= 120
    assert gone.state == ValidationState.DONE
    assert len(events) == 1  # only the final answer is in an event
    async with runner.service.sessions() as session:
        [event] = [parse_event(p) for p in await session.scalars(select(outbox.c.payload))]
    assert isinstance(event, LeadsValidated) and [v.lead_id for v in event.leads] == [ids[2]]
    assert await runner.claim() == []  # the re-queued ones are not due yet

    # The schedule used up, a greylisted address gets its final answer: unknown.
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE validator.validations SET attempts = 2, next_attempt_at = now() WHERE lead_id = :i"),
            {"i": ids[0]},
        )
    again = await runner.claim()
    assert [c.lead_id for c in again] == [ids[0]]
    await runner.record(again, [result("grey@firma.cz", Reason.GREYLISTED, Verdict.UNKNOWN)])
    async with runner.service.sessions() as session:
        row = (
            await session.execute(
                select(validations.c.state, validations.c.verdict, validations.c.reason).where(
                    validations.c.lead_id == ids[0]
                )
            )
        ).one()
    assert tuple(row) == ("done", "unknown", "greylisted")


async def test_a_small_campaign_queued_behind_a_big_backlog_is_claimed_in_the_first_pass(
    runner: ValidationRunner,
) -> None:
    # A big campaign's backlog, long due, one batch of it being verified right now; then a 51-lead campaign
    # of another workspace, and a 20-lead one of the big campaign's own workspace, queued after it.
    big_workspace, big_campaign = uuid.uuid4(), uuid.uuid4()
    await queue(runner, [f"lead{i}@velka-firma.cz" for i in range(4 * BATCH)], big_workspace, big_campaign)
    async with runner.service.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE validator.validations SET next_attempt_at = now() - interval '1 hour'")
        )
    in_progress = await runner.claim()
    assert len(in_progress) == BATCH and {c.campaign_id for c in in_progress} == {big_campaign}
    small = await queue(runner, [f"lead{i}@mala-firma.cz" for i in range(51)])
    sibling_campaign = uuid.uuid4()
    sibling = await queue(
        runner, [f"lead{i}@sesterska.cz" for i in range(20)], big_workspace, sibling_campaign
    )

    claimed = await runner.claim()
    ids = {c.lead_id for c in claimed}
    assert set(small) <= ids and set(sibling) <= ids  # every lead of both, in the first pass
    assert len(claimed) == BATCH  # and the rest of the batch goes on with the backlog
    assert sum(1 for c in claimed if c.campaign_id == big_campaign) == BATCH - 51 - 20
    # Leads of a claim are never claimed twice, whoever asks.
    assert not ids & {c.lead_id for c in in_progress}


async def test_concurrent_claims_never_share_a_lead(runner: ValidationRunner) -> None:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    ids = await queue(runner, [f"lead{i}@firma.cz" for i in range(30)], workspace_id, campaign_id)
    async with runner.service.sessions() as session, session.begin():
        # This transaction's claim is not committed yet: its leads are locked, not yet `probing`.
        first = await ValidationRepository.from_session(session).claim(
            {Queue(workspace_id, campaign_id): 10}, LEASE
        )
        second = await runner.claim()
    assert len(first) == 10 and len(second) == 20
    assert {c.lead_id for c in first} | {c.lead_id for c in second} == set(ids)


async def test_a_rerun_queues_verified_leads_once_at_the_next_run(runner: ValidationRunner) -> None:
    workspace_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    ids = await queue(runner, ["x@nikde.cz", "jan@firma.cz", "grey@firma.cz"], workspace_id, campaign_id)
    claimed = sorted(await runner.claim(), key=lambda c: ids.index(c.lead_id))
    await runner.record(
        claimed,
        [
            Result("x@nikde.cz", Verdict.INVALID, Reason.NO_SUCH_DOMAIN),
            result("jan@firma.cz", Reason.ACCEPTED, Verdict.VALID),
            result("grey@firma.cz", Reason.GREYLISTED, Verdict.UNKNOWN),
        ],
    )
    other_workspace = await runner.rerun(uuid.uuid4(), campaign_id, [])
    assert other_workspace == 0  # a campaign is only ever its own workspace's
    assert await runner.rerun(workspace_id, campaign_id, ["no_such_domain"]) == 1
    assert await runner.rerun(workspace_id, campaign_id, ["no_such_domain"]) == 0  # a double click
    again = await runner.claim()
    assert [(c.lead_id, c.run, c.attempts) for c in again] == [(ids[0], 1, 0)]
    await runner.record(again, [result("x@nikde.cz", Reason.ACCEPTED, Verdict.VALID)])
    async with runner.service.sessions() as session:
        events = [parse_event(p) for p in await session.scalars(select(outbox.c.payload))]
        rows = {
            r.lead_id: (r.state, r.run, r.reason)
            for r in await session.execute(
                select(validations.c.lead_id, validations.c.state, validations.c.run, validations.c.reason)
            )
        }
    assert rows == {
        ids[0]: (ValidationState.DONE, 1, "accepted"),
        ids[1]: (ValidationState.DONE, 0, "accepted"),
        ids[2]: (
            ValidationState.QUEUED,
            0,
            None,
        ),  # waiting for its greylisting retry: a re-run leaves it alone
    }
    batches = [e for e in events if isinstance(e, LeadsValidated)]
    assert len(batches) == len(events) == 2
    runs = sorted((v.lead_id == ids[0], v.run, v.reason) for e in batches for v in e.leads)
    assert runs == [(False, 0, "accepted"), (True, 0, "no_such_domain"), (True, 1, "accepted")]
    # Every verified lead, whatever its reason, when no reason is given.
    assert await runner.rerun(workspace_id, campaign_id, []) == 2
