"""Which company an address belongs to (`stop_on_company_reply`): its domain, case aside; no company for a
free-mail domain. The SQL that finds a company's leads reads the domain as `email_domain` does."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.sequencer.company import FREE_MAIL_DOMAINS, company_domain, email_domain
from services.sequencer.tables import EMAIL_DOMAIN


@pytest.mark.parametrize(
    ("email", "company"),
    [
        ("ana@firma.cz", "firma.cz"),
        ("Petr.Novak@FIRMA.CZ", "firma.cz"),
        ("x@sub.firma.cz", "sub.firma.cz"),  # a subdomain is a company of its own
        ('"a@b"@firma.cz', "firma.cz"),  # the last "@" decides
        ("jana@gmail.com", None),
        ("jana@GMail.com", None),
        ("novak@seznam.cz", None),
        ("novak@email.cz", None),
        ("h@t-online.de", None),
        ("no-at-sign", None),
        ("trailing@", None),
    ],
)
def test_company_domain(email: str, company: str | None) -> None:
    assert company_domain(email) == company


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "seznam.cz",
        "yahoo.com",
        "outlook.com",
        "hotmail.com",
        "icloud.com",
        "email.cz",
        "centrum.cz",
        "post.cz",
        "gmx.de",
        "web.de",
        "t-online.de",
    ],
)
def test_the_free_mail_domains_the_issue_names_are_listed(domain: str) -> None:
    assert domain in FREE_MAIL_DOMAINS and domain == domain.lower()


def _sql_domain(email: str) -> str | None:
    """`tables.EMAIL_DOMAIN` as PostgreSQL evaluates it for ASCII: lower(substring(email, pattern))."""
    pattern = re.search(r"email, '([^']*)'::text", EMAIL_DOMAIN)
    assert pattern is not None
    found = re.search(pattern.group(1), email)
    return None if found is None else found.group(1).lower()


@given(st.text(alphabet="abAB.@-", max_size=12))
def test_the_sql_reads_the_domain_as_python_does(email: str) -> None:
    assert (_sql_domain(email) or "") == email_domain(email)
