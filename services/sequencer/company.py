"""Which company a lead's address belongs to, for the campaign setting `stop_on_company_reply`: pure, no I/O.

A reply from ana@firma.cz tells a campaign that Firma has answered, so writing on to petr@firma.cz would
be writing to a company that is already talking to us. The company is the address's domain, compared
without regard to case. A free-mail domain (gmail.com, seznam.cz, …) names no company: thousands of
unrelated people share it, so a reply from one of them stops nobody else. The list below is the common
consumer providers of the markets Leadflow sends to (international, Czech and Slovak, German, Polish);
it is deliberately short and conservative — a provider missing from it only means that a reply from it
stops the replier's fellow users of that provider too, never that a company's colleagues keep getting
mail. (The validator's `validator_dns_canaries` setting names a few of the same domains for a different
purpose, DNS health, so it is not reused.)
"""

from __future__ import annotations

from typing import Final

FREE_MAIL_DOMAINS: Final = frozenset(
    {
        # International
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.net",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        # Czech and Slovak
        "seznam.cz",
        "email.cz",
        "post.cz",
        "centrum.cz",
        "atlas.cz",
        "volny.cz",
        "tiscali.cz",
        "azet.sk",
        "centrum.sk",
        "post.sk",
        "zoznam.sk",
        # German
        "gmx.de",
        "web.de",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        # Polish
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "interia.pl",
    }
)


def email_domain(email: str) -> str:
    """The part after the last "@", lowercase ("" without one): as `leads_repository.EMAIL_DOMAIN` reads
    it in SQL, so the two find the same leads."""
    _, at, domain = email.rpartition("@")
    return domain.lower() if at else ""


def company_domain(email: str) -> str | None:
    """The company an address belongs to, by its domain; None for a free-mail domain or no domain."""
    domain = email_domain(email)
    if not domain or domain in FREE_MAIL_DOMAINS:
        return None
    return domain
