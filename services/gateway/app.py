"""Wiring of the gateway: FastAPI app, the broker it commands services with, the lead_view projection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from contracts import LeadUnsubscribed
from services.gateway import errors, input_errors
from services.gateway.auth import SessionCookieAuth
from services.gateway.campaigns import router as campaigns
from services.gateway.dev import router as dev
from services.gateway.imports import router as imports
from services.gateway.inbox import router as inbox
from services.gateway.jobs import router as jobs
from services.gateway.jobs.runner import JobRunner
from services.gateway.leads import router as leads
from services.gateway.leads import sort_keys
from services.gateway.mailboxes import router as mailboxes
from services.gateway.projection.consumer import PROJECTION_DURABLE, apply_parked, project, project_batch
from services.gateway.projection.imports import IMPORT_EVENTS, IMPORTS_DURABLE, project_imports
from services.gateway.sends import router as sends
from services.gateway.sources import router as sources
from services.gateway.suppressions import router as suppressions
from services.gateway.tables import metadata
from services.gateway.unsubscribe import router as unsubscribe
from services.gateway.upload_limit import UploadLimit
from services.gateway.validation import router as validation
from services.gateway.web import router as web
from services.runtime.leased_work import WorkLoop
from services.runtime.secrets import Secrets
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.unsubscribe_tokens import UnsubscribeTokens

DESCRIPTION = """
Leadflow's HTTP API. Authenticate with `Authorization: Bearer <API key>`; every resource belongs to the
key's workspace, and another workspace's ids answer 404.
"""


# How often the gateway looks for parked events whose leads have been listed since.
PARKED_EVERY_SECONDS = 1.0


def _parked_pass(service: Service) -> Callable[[], Awaitable[int]]:
    async def run_once() -> int:
        async with service.sessions() as session, session.begin():
            return await apply_parked(session)

    return run_once


def create_service(settings: Settings, *, for_docs: bool = False) -> Service:
    return _create(settings, for_docs=for_docs)[0]


def _create(settings: Settings, *, for_docs: bool) -> tuple[Service, JobRunner]:
    """The gateway's service, and the runner of its bulk jobs (the routes reach it on the app's state)."""
    service = Service(name="gateway", metadata=metadata, settings=settings, for_docs=for_docs)
    # lead_view consumes every event: it is the one place that shows all of a lead's history.
    service.consume(
        None,
        lambda uow, event: project(uow.session, event),
        durable=PROJECTION_DURABLE,
        batch_handler=lambda uow, events: project_batch(uow.session, events),
    )
    # Events that arrived before their lead was listed are applied once it is (projection.parked).
    parked = WorkLoop(_parked_pass(service), name="gateway parked events", every=PARKED_EVERY_SECONDS)

    async def start_parked() -> None:
        service.spawn(parked.run(), "gateway-parked-events")

    service.on_startup(start_parked)
    # New imports are listed by a consumer of their own, so they never queue behind a backlog of verdicts
    # (see projection.imports.claim_import for how the two share LeadImported).
    # The one-click unsubscribe of the links in every message sent (unsubscribe/router.py).
    service.emits(LeadUnsubscribed)
    service.consume(
        IMPORT_EVENTS,
        lambda uow, event: project_imports(uow.session, event),
        durable=IMPORTS_DURABLE,
        only_new=True,
    )
    # Bulk actions over many leads: the runner resumes running jobs when the gateway starts.
    job_runner = JobRunner.wired(service)
    # Sort keys made by another ICU version are recomputed in the background.
    sort_keys.register(service)
    return service, job_runner


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service, job_runner = _create(settings, for_docs=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Unsubscribe links are signed with LEADFLOW_SECRET_KEY: the gateway refuses to start without it
        # (saying how to set it). Building the app alone, for its OpenAPI document, needs none.
        app.state.unsubscribe_tokens = UnsubscribeTokens.from_secrets(Secrets.from_settings(settings))
        async with service.running():
            yield

    app = FastAPI(title="Leadflow", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    app.state.job_runner = job_runner
    input_errors.register(app)
    errors.install(app)
    app.include_router(campaigns.router)
    app.include_router(validation.router)
    app.include_router(leads.router)
    app.include_router(imports.router)
    app.include_router(jobs.router)
    app.include_router(suppressions.router)
    app.include_router(mailboxes.router)
    app.include_router(sends.router)
    app.include_router(inbox.router)
    app.include_router(sources.router)
    app.include_router(dev.router)
    app.include_router(web.router)
    app.include_router(unsubscribe.router)
    app.mount("/static", web.static_files(), name="static")
    app.add_middleware(
        UploadLimit,
        max_bytes=settings.import_max_bytes,
        by_path={"/api/v1/suppressions/upload": settings.suppression_upload_max_bytes},
    )
    app.add_middleware(SessionCookieAuth, public_url=settings.public_url)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response("ok")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ready = await service.ready()
        return Response("ready" if ready else "not ready", status_code=200 if ready else 503)

    return app
