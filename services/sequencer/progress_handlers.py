"""The sequencer's consumers of leads' events: each batch's leads locked, moved by `progress`, written
back, with the events the moves produce (LeadCompleted, LeadsScheduled, SequenceStopped), in the consumer's
unit of work. Redelivered events never get here twice: the consumer marks each handled one in that same
unit of work.

Every handler holds its campaign's row FOR SHARE: an activation (FOR UPDATE) then either sees the leads
these handlers wrote or the handlers see the campaign activated, never neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text

from contracts import (
    MAX_BATCH,
    AutoReplyDetected,
    EmailBounced,
    EmailSent,
    Event,
    ImportedLead,
    InboundReclassified,
    LeadCompleted,
    LeadImported,
    LeadsScheduled,
    LeadStatus,
    LeadStatusChanged,
    LeadsValidated,
    LeadUnsubscribed,
    LeadValidated,
    MailboxHealthChanged,
    ReplyDetected,
    ScheduledLead,
    SendFailed,
    SendUncertain,
    SequenceStopped,
)
from contracts.events import LeadsRemoved
from contracts.lead_status import stops_sequence
from services.runtime.unit_of_work import UnitOfWork
from services.sequencer import progress as moves
from services.sequencer.company import company_domain
from services.sequencer.domain import Campaign
from services.sequencer.leads_repository import LeadRepository, LeadRow, NewLead, Values
from services.sequencer.progress import LeadState, Plan, Progress
from services.sequencer.repository import CampaignRepository

# NOTIFY channel of the emission pass: leads were scheduled.
DUE_CHANNEL = "sequencer_due"
STOP_EVENTS = (
    "reply_detected",
    "email_bounced",
    "lead_unsubscribed",
    "lead_status_changed",
    "leads_removed",
    "send_failed",
)
LEAD_EVENTS = ("lead_imported", "leads_validated", "lead_validated")
SEND_EVENTS = ("email_sent", "send_uncertain")
AUTO_REPLY_EVENTS = ("auto_reply_detected",)
RECLASSIFIED_EVENTS = ("inbound_reclassified",)

# The stop each status an overturned message gave (`InboundReclassified.undoes`) had made.
_UNDONE = {LeadStatus.REPLIED: moves.STOP_REPLIED, LeadStatus.BOUNCED: moves.STOP_BOUNCED}

_NO_CAMPAIGN = Plan(delays=(), activated_at=None)

Move = Callable[[Progress, Plan], Progress]


def plan_of(campaign: Campaign | None) -> Plan:
    if campaign is None:
        return _NO_CAMPAIGN
    schedule = campaign.settings.schedule
    return Plan(
        delays=tuple(step.delay_minutes for step in campaign.steps),
        activated_at=campaign.activated_at,
        wait_for_validation=campaign.settings.wait_for_validation,
        send_to_unknown=campaign.settings.send_to_unknown,
        zone=UTC if schedule is None else ZoneInfo(schedule.timezone),
    )


def values_of(lead: ImportedLead) -> Values:
    """What a template may use of an imported lead (see templates.LeadValues)."""
    fields = lead.model_dump(exclude={"lead_id", "row", "custom"}, exclude_none=True)
    return fields | {"custom": dict(lead.custom)}


def stop_reason(event: Event) -> str:
    match event:
        case ReplyDetected():
            return moves.STOP_REPLIED
        case EmailBounced():
            return moves.STOP_BOUNCED
        case LeadUnsubscribed():
            return "unsubscribed"
        case SendFailed():
            return moves.STOP_FAILED
        case LeadStatusChanged(status=status):
            return f"status {status.value}"
        case _:
            return event.event_type


class ProgressHandlers:
    """`wake` looks for due steps at once (in this process; others hear the NOTIFY)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def on_lead_event(
        self, uow: UnitOfWork, event: LeadImported | LeadsValidated | LeadValidated
    ) -> None:
        match event:
            case LeadImported():
                new = [
                    NewLead(lead.lead_id, event.campaign_id, event.workspace_id, lead.email)
                    for lead in event.leads
                ]
                at = event.occurred_at
                values = {lead.lead_id: values_of(lead) for lead in event.leads}
                imported: Move = lambda p, plan: moves.imported(p, at, plan)  # noqa: E731
                changes: dict[UUID, Move] = dict.fromkeys(values, imported)
            case LeadsValidated() | LeadValidated():
                verdicts = event.one_by_one() if isinstance(event, LeadsValidated) else [event]
                new = [NewLead(v.lead_id, event.campaign_id, event.workspace_id, v.email) for v in verdicts]
                values = {}
                changes = {v.lead_id: _verdict(v) for v in verdicts}
        await self._apply(uow, event.campaign_id, changes, new=new, values=values)

    async def on_send_event(self, uow: UnitOfWork, event: EmailSent | SendUncertain) -> None:
        completed: list[LeadCompleted] = []

        def sent(p: Progress, plan: Plan) -> Progress:
            assert isinstance(event, EmailSent)
            outcome = moves.sent(p, event.step, event.message_id, event.mailbox_id, event.occurred_at, plan)
            if outcome.completed:
                completed.append(
                    LeadCompleted(
                        workspace_id=event.workspace_id,
                        campaign_id=event.campaign_id,
                        lead_id=event.lead_id,
                        total_steps=event.step,
                    )
                )
            return outcome.progress

        if isinstance(event, EmailSent):
            await self._apply(uow, event.campaign_id, {event.lead_id: sent})
        else:
            await self._apply(
                uow, event.campaign_id, {event.lead_id: lambda p, _: moves.uncertain(p, event.step)}
            )
        uow.emit(*completed)

    async def on_stop_event(
        self,
        uow: UnitOfWork,
        event: ReplyDetected
        | EmailBounced
        | LeadUnsubscribed
        | LeadStatusChanged
        | LeadsRemoved
        | SendFailed,
    ) -> None:
        if isinstance(event, LeadsRemoved):
            await LeadRepository.from_session(uow.session).forget(event.campaign_id, event.lead_ids)
            return
        campaign = await CampaignRepository.from_session(uow.session).get(event.campaign_id, for_share=True)
        stop_on_reply = True if campaign is None else campaign.settings.stop_on_reply
        if not stops_sequence(event, stop_on_reply=stop_on_reply):
            return
        if (
            isinstance(event, ReplyDetected)
            and campaign is not None
            and campaign.settings.stop_on_company_reply
        ):
            await self._stop_company(uow, event)
        reason = stop_reason(event)
        lead_ids = event.lead_ids if isinstance(event, LeadStatusChanged) else [event.lead_id]
        await self._apply(
            uow, event.campaign_id, {lead_id: lambda p, _: moves.stopped(p, reason) for lead_id in lead_ids}
        )

    async def _stop_company(self, uow: UnitOfWork, reply: ReplyDetected) -> None:
        """The campaign stops on a company reply: every other lead of it at the replier's company (its
        address's domain, unless a free-mail one: `company.py`) stops too, in one statement, and each one
        whose progress that changed is announced (`SequenceStopped`: the mailer drops its queued send, the
        leads table its next send). The replier's own address decides, not the reply's sender."""
        repo = LeadRepository.from_session(uow.session)
        replier = await repo.get(reply.campaign_id, reply.lead_id)
        if replier is None or (domain := company_domain(replier.email)) is None:
            return
        stopped = await repo.stop_company(reply.campaign_id, reply.lead_id, domain)
        uow.emit(
            *(
                SequenceStopped(
                    workspace_id=reply.workspace_id,
                    campaign_id=reply.campaign_id,
                    lead_id=lead_id,
                    reason=moves.STOP_COMPANY_REPLIED,
                    replied_lead_id=reply.lead_id,
                    domain=domain,
                )
                for lead_id in stopped
            )
        )

    async def on_reclassified(self, uow: UnitOfWork, event: InboundReclassified) -> None:
        """A person overturned a reply or a hard bounce in the Unibox (`undoes`): a lead that stop alone
        stopped goes on (`progress.resumed`, at the event's own time, so a redelivery decides the same),
        its next step announced (LeadsScheduled) and emitted when due; one it leaves with every step sent
        completes (LeadCompleted). Without `undoes` (another reply or bounce of the lead still stands, or
        the message gave no status) nothing changes. The company's other leads its reply stopped stay
        stopped."""
        reason = None if event.undoes is None else _UNDONE.get(event.undoes)
        if reason is None:
            return
        at = event.occurred_at
        completed: list[LeadCompleted] = []

        def resume(p: Progress, plan: Plan) -> Progress:
            after = moves.resumed(p, reason, at, plan)
            if after.state is LeadState.COMPLETED and p.state is not LeadState.COMPLETED:
                completed.append(
                    LeadCompleted(
                        workspace_id=event.workspace_id,
                        campaign_id=event.campaign_id,
                        lead_id=event.lead_id,
                        total_steps=len(after.message_ids),
                    )
                )
            return after

        await self._apply(uow, event.campaign_id, {event.lead_id: resume})
        uow.emit(*completed)

    async def on_auto_reply(self, uow: UnitOfWork, event: AutoReplyDetected) -> None:
        """An out-of-office never stops the sequence; its return date holds the lead's next step until
        the day after (`progress.auto_replied`, the hold judged at the auto-reply's own time, so a
        redelivery or a late delivery decides the same). A step it moves is announced (LeadsScheduled)."""
        if event.return_date is None:
            return
        return_date, at = event.return_date, event.occurred_at
        await self._apply(
            uow,
            event.campaign_id,
            {event.lead_id: lambda p, plan: moves.auto_replied(p, return_date, at, plan)},
        )

    async def on_mailbox_health(self, uow: UnitOfWork, event: MailboxHealthChanged) -> None:
        await LeadRepository.from_session(uow.session).record_health(
            event.mailbox_id, event.email, event.healthy, event.reason, event.occurred_at
        )

    async def _apply(
        self,
        uow: UnitOfWork,
        campaign_id: UUID,
        changes: Mapping[UUID, Move],
        *,
        new: Iterable[NewLead] = (),
        values: Mapping[UUID, Values] | None = None,
    ) -> None:
        """Lock the leads, move each, write back those that changed, and announce their next sends."""
        campaign = await CampaignRepository.from_session(uow.session).get(campaign_id, for_share=True)
        plan = plan_of(campaign)
        repo = LeadRepository.from_session(uow.session)
        await repo.ensure(list(new))
        rows = await repo.lock(campaign_id, changes)
        values = values or {}
        changed: dict[UUID, tuple[Progress, Values | None]] = {}
        scheduled: list[ScheduledLead] = []
        for lead_id, row in rows.items():
            after = changes[lead_id](row.progress, plan)
            if after == row.progress and lead_id not in values:
                continue
            changed[lead_id] = (after, values.get(lead_id))
            if (entry := _next_send(row, after, plan)) is not None:
                scheduled.append(entry)
        await repo.save(changed)
        if campaign is not None and scheduled:
            uow.emit_all(leads_scheduled(campaign, scheduled))
            await uow.session.execute(text(f"SELECT pg_notify('{DUE_CHANNEL}', '')"))
            self._wake()


def _verdict(verdict: LeadValidated) -> Move:
    def move(progress: Progress, plan: Plan) -> Progress:
        return moves.validated(progress, verdict.verdict, verdict.run, verdict.occurred_at, plan)

    return move


def _next_send(row: LeadRow, after: Progress, plan: Plan) -> ScheduledLead | None:
    before = moves.next_send(row.progress, plan)
    now = moves.next_send(after, plan)
    if now is None or now == before:
        return None
    return ScheduledLead(lead_id=row.lead_id, step=now[0], total_steps=plan.total_steps, due_at=now[1])


def leads_scheduled(campaign: Campaign, entries: list[ScheduledLead]) -> list[LeadsScheduled]:
    return [
        LeadsScheduled(
            workspace_id=campaign.workspace_id, campaign_id=campaign.id, leads=entries[i : i + MAX_BATCH]
        )
        for i in range(0, len(entries), MAX_BATCH)
    ]
