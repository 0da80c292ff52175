"""GET /api/v1/dev/outbox: what the local SMTP capture received, through a gateway given its Maildir
(LEADFLOW_CAPTURE_DIR, as `leadflow up` sets it); off (`enabled: false`) on a gateway without one."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import httpx

from services.runtime.smtp_capture import CaptureServer
from tests.harness import ServiceProcess


async def test_the_outbox_lists_captured_messages_newest_first(
    capturing_gateway: ServiceProcess, capture: CaptureServer, api_key: str, client: httpx.AsyncClient
) -> None:
    smtp = aiosmtplib.SMTP(hostname=capture.address.host, port=capture.address.port, start_tls=False)
    await smtp.connect()
    await smtp.login("dev", "dev")
    for n in (1, 2, 3):
        mail = EmailMessage()
        mail["From"] = "Dev <dev@leadflow.example>"
        mail["To"] = f"lead{n}@firma.example"
        mail["Subject"] = f"Step {n}"
        mail["Message-ID"] = f"<s{n}@leadflow.example>"
        mail["List-Unsubscribe"] = f"<http://127.0.0.1/u/t{n}>"
        mail.set_content(f"Body {n}")
        await smtp.send_message(mail)
    await smtp.quit()

    url = capturing_gateway.base_url
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        answer = await http.get("/api/v1/dev/outbox", params={"limit": 2})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["enabled"] is True
        assert [(i["subject"], i["to"], i["from"]) for i in body["items"]] == [
            ("Step 3", "lead3@firma.example", "Dev <dev@leadflow.example>"),
            ("Step 2", "lead2@firma.example", "Dev <dev@leadflow.example>"),
        ]
        newest = body["items"][0]
        assert newest["message_id"] == "<s3@leadflow.example>" and newest["text"] == "Body 3\n"
        assert newest["headers"]["List-Unsubscribe"] == "<http://127.0.0.1/u/t3>"
        assert newest["received_at"]
        assert len((await http.get("/api/v1/dev/outbox")).json()["items"]) == 3
        for limit in (0, 201, 10**12):
            assert (await http.get("/api/v1/dev/outbox", params={"limit": limit})).status_code == 422
    async with httpx.AsyncClient(base_url=url) as anonymous:
        assert (await anonymous.get("/api/v1/dev/outbox")).status_code == 401

    # The session's gateway has no capture: off, and nothing listed.
    off = await client.get("/api/v1/dev/outbox")
    assert off.status_code == 200 and off.json() == {"items": [], "enabled": False}
