"""SmtpProber against real SMTP peers (aiosmtpd) on 127.0.0.2-6, all on one free port.

Every reply the prober classifies comes off the wire, so these tests also pin down how aiosmtplib
reports refusals, 421s and hang-ups — the things a mock would get wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from services.validator.smtp import MAX_SESSIONS, DomainProbe, SessionError, SmtpProber
from services.validator.verdicts import RcptKind
from tests.peers.fakemx import FakeMx, MxBehaviour, free_port

DOMAIN = "acme-trading.cz"
RANDOM = "lf-probe-0123456789ab"

StartMx = Callable[..., FakeMx]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def start_mx(port: int) -> Iterator[StartMx]:
    """Start FakeMx peers on the test's port; every one is stopped at teardown."""
    started: list[FakeMx] = []

    def start(host: str, behaviour: MxBehaviour, ident: str = "mx.fake.test") -> FakeMx:
        mx = FakeMx(behaviour, port, ident=ident)
        mx.start(host)
        started.append(mx)
        return mx

    yield start
    for mx in started:
        mx.stop()


class Connects:
    """Records on_connect calls, as the health guard would receive them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, domain: str, connected: bool) -> None:
        self.calls.append((domain, connected))


def prober(port: int, **kwargs: object) -> SmtpProber:
    options: dict[str, object] = {
        "helo": "probe.leadflow.test",
        "timeout": 2.0,
        "random_local_part": lambda: RANDOM,
    }
    options.update(kwargs)
    return SmtpProber(port=port, **options)  # type: ignore[arg-type]


def at(local: str, domain: str = DOMAIN) -> str:
    return f"{local}@{domain}"


MX1 = ("mx1." + DOMAIN, ("127.0.0.2",))
MX2 = ("mx2." + DOMAIN, ("127.0.0.3",))
DEAD = ("mx0." + DOMAIN, ("127.0.0.5",))  # nothing listens there


async def test_each_reply_is_classified(port: int, start_mx: StartMx) -> None:
    mx = start_mx(
        "127.0.0.2",
        MxBehaviour(
            mailboxes={at("alice")},
            full={at("full")},
            blocked={at("blocked")},
            greylist_times={at("grey"): 1},
        ),
    )
    addresses = [at("alice"), at("bob"), at("full"), at("blocked"), at("grey")]

    result = await prober(port).probe(DOMAIN, [MX1], addresses)

    kinds = {a: r.kind for a, r in result.replies.items()}
    assert kinds == {
        at("alice"): RcptKind.ACCEPTED,
        at("bob"): RcptKind.NO_MAILBOX,
        at("full"): RcptKind.MAILBOX_FULL,
        at("blocked"): RcptKind.POLICY,
        at("grey"): RcptKind.TEMPORARY,
    }
    assert (result.replies[at("alice")].code, result.replies[at("bob")].code) == (250, 550)
    assert result.replies[at("bob")].message.startswith("5.1.1")
    assert result.replies[at("full")].code == 552
    assert result.replies[at("grey")].code == 451
    assert result.host == MX1[0] and result.error is None
    assert result.catch_all is False
    # One session, random local part first, null sender, then QUIT.
    assert mx.connections == 1
    assert mx.rcpts() == [at(RANDOM), *addresses]
    assert ("MAIL", "<>") in mx.log
    assert mx.log[-1] == ("QUIT", "")


async def test_catch_all_domain_is_detected_with_the_random_probe_sent_first(
    port: int, start_mx: StartMx
) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour(catch_all=True))

    result = await prober(port).probe(DOMAIN, [MX1], [at("anyone"), at("noone")])

    assert result.catch_all is True
    assert all(r.kind is RcptKind.ACCEPTED for r in result.replies.values())
    assert mx.rcpts()[0] == at(RANDOM)


async def test_random_probe_greylisted_leaves_catch_all_undecided(port: int, start_mx: StartMx) -> None:
    start_mx("127.0.0.2", MxBehaviour(mailboxes={at("alice")}, greylist_times={at(RANDOM): 1}))

    result = await prober(port).probe(DOMAIN, [MX1], [at("alice")])

    assert result.catch_all is None
    assert result.replies[at("alice")].kind is RcptKind.ACCEPTED


async def test_default_random_local_part_is_unguessable(port: int, start_mx: StartMx) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour())
    probe = SmtpProber(port=port, helo="probe.leadflow.test", timeout=2.0)

    await probe.probe(DOMAIN, [MX1], [])
    await probe.probe(DOMAIN, [MX1], [])

    first, second = mx.rcpts()
    assert first != second and first.startswith("lf-probe-") and first.endswith("@" + DOMAIN)


async def test_sender_is_used_in_mail_from(port: int, start_mx: StartMx) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour())

    await prober(port, sender="bounce@leadflow.test").probe(DOMAIN, [MX1], [at("x")])

    assert ("MAIL", "bounce@leadflow.test") in mx.log


async def test_refused_primary_falls_back_to_secondary(port: int, start_mx: StartMx) -> None:
    mx2 = start_mx("127.0.0.3", MxBehaviour(mailboxes={at("alice")}))
    connects = Connects()

    result = await prober(port, on_connect=connects).probe(DOMAIN, [DEAD, MX2], [at("alice")])

    assert result.host == MX2[0] and result.error is None
    assert result.replies[at("alice")].kind is RcptKind.ACCEPTED
    assert connects.calls == [(DOMAIN, False), (DOMAIN, True)]
    assert mx2.connections == 1


async def test_refused_ip_falls_back_to_the_hosts_next_ip(port: int, start_mx: StartMx) -> None:
    start_mx("127.0.0.3", MxBehaviour(mailboxes={at("alice")}))

    result = await prober(port).probe(DOMAIN, [("mx." + DOMAIN, ("127.0.0.5", "127.0.0.3"))], [at("alice")])

    assert result.host == "mx." + DOMAIN
    assert result.replies[at("alice")].kind is RcptKind.ACCEPTED


async def test_all_mx_refusing_is_reported_refused(port: int) -> None:
    connects = Connects()

    result = await prober(port, on_connect=connects).probe(
        DOMAIN, [DEAD, ("mx9." + DOMAIN, ("127.0.0.6",))], [at("alice")]
    )

    assert result == DomainProbe(host=None, catch_all=None, replies={}, error=SessionError.REFUSED)
    assert connects.calls == [(DOMAIN, False), (DOMAIN, False)]


async def test_421_banner_on_primary_falls_back(port: int, start_mx: StartMx) -> None:
    mx1 = start_mx("127.0.0.2", MxBehaviour(banner_421=True))
    start_mx("127.0.0.3", MxBehaviour(mailboxes={at("alice")}))
    connects = Connects()

    result = await prober(port, on_connect=connects).probe(DOMAIN, [MX1, MX2], [at("alice")])

    assert result.host == MX2[0] and result.error is None
    assert result.replies[at("alice")].kind is RcptKind.ACCEPTED
    assert connects.calls == [(DOMAIN, False), (DOMAIN, True)]
    assert mx1.connections == 1 and mx1.rcpts() == []


async def test_421_everywhere_is_unavailable_even_if_another_host_refused(
    port: int, start_mx: StartMx
) -> None:
    start_mx("127.0.0.2", MxBehaviour(banner_421=True))

    result = await prober(port).probe(DOMAIN, [DEAD, MX1], [at("alice")])

    assert result.host is None and result.error is SessionError.UNAVAILABLE


async def test_silent_server_times_out(port: int, start_mx: StartMx) -> None:
    start_mx("127.0.0.2", MxBehaviour(delay=1.5))
    connects = Connects()

    result = await prober(port, timeout=0.3, on_connect=connects).probe(DOMAIN, [MX1], [at("alice")])

    assert result.host is None and result.error is SessionError.TIMEOUT
    assert connects.calls == [(DOMAIN, False)]


async def test_ehlo_refused_falls_back_to_helo(port: int, start_mx: StartMx) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour(mailboxes={at("alice")}, reject_ehlo=True))

    result = await prober(port).probe(DOMAIN, [MX1], [at("alice")])

    assert result.replies[at("alice")].kind is RcptKind.ACCEPTED
    assert [verb for verb, _ in mx.log][:3] == ["EHLO", "HELO", "MAIL"]


async def test_dropped_session_resumes_on_a_new_connection(port: int, start_mx: StartMx) -> None:
    # The first connection answers the random probe and one address, then 421s the next RCPT.
    mx = start_mx("127.0.0.2", MxBehaviour(mailboxes={at("a"), at("c")}, drop_plan=[2]))
    addresses = [at("a"), at("b"), at("c")]

    result = await prober(port).probe(DOMAIN, [MX1], addresses)

    assert {a: r.kind for a, r in result.replies.items()} == {
        at("a"): RcptKind.ACCEPTED,
        at("b"): RcptKind.NO_MAILBOX,
        at("c"): RcptKind.ACCEPTED,
    }
    assert result.catch_all is False and result.error is None
    assert mx.connections == 2
    # The RCPT that got the 421 is asked again; the random probe is not.
    assert mx.rcpts() == [at(RANDOM), at("a"), at("b"), at("b"), at("c")]


async def test_reconnects_are_bounded(port: int, start_mx: StartMx) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour(catch_all=True, drop_plan=[1] * 10))
    addresses = [at(f"u{i}") for i in range(10)]

    result = await prober(port).probe(DOMAIN, [MX1], addresses)

    assert mx.connections == MAX_SESSIONS
    assert result.host == MX1[0] and result.error is None  # the host was used; the rest is unanswered
    assert result.catch_all is True
    assert list(result.replies) == addresses[: MAX_SESSIONS - 1]


async def test_long_lists_reset_the_transaction_every_50_rcpts(port: int, start_mx: StartMx) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour(catch_all=True))
    addresses = [at(f"u{i}") for i in range(120)]

    result = await prober(port).probe(DOMAIN, [MX1], addresses)

    assert len(result.replies) == 120
    verbs = [verb for verb, _ in mx.log]
    assert verbs.count("RSET") == 2 and verbs.count("MAIL") == 3  # 50 + 50 + 21 RCPTs
    assert mx.connections == 1


async def test_per_mx_limit_is_never_exceeded(port: int, start_mx: StartMx) -> None:
    mx = start_mx("127.0.0.2", MxBehaviour(catch_all=True, delay=0.02))
    probe = prober(port, per_mx_limit=2)
    domains = [f"client{i}.cz" for i in range(10)]

    results = await asyncio.gather(
        *(probe.probe(d, [("mx.shared-host.cz", ("127.0.0.2",))], [at("info", d)]) for d in domains)
    )

    assert all(
        r.replies[at("info", d)].kind is RcptKind.ACCEPTED for r, d in zip(results, domains, strict=True)
    )
    assert mx.connections == 10
    assert mx.peak == 2  # ≤ 2 is the limit; 2 (not 1) shows the probes did run side by side


async def test_host_names_are_never_handed_to_the_client(port: int) -> None:
    with pytest.raises(ValueError):
        await prober(port).probe(DOMAIN, [("mx1." + DOMAIN, ("mx1." + DOMAIN,))], [at("alice")])


async def test_addresses_that_would_break_the_command_are_refused(port: int) -> None:
    with pytest.raises(ValueError):
        await prober(port).probe(DOMAIN, [MX1], ["a@b.cz>\r\nDATA"])
