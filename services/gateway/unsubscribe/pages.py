"""The pages `/u/{token}` answers, in Czech and English: plain HTML, no script, nothing from elsewhere."""

from __future__ import annotations

from html import escape

# The pages need nothing but their own inline style; the form may post only back here.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
# Link scanners and search engines fetch these URLs: none of them is to be indexed, cached or framed.
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2933}"
    "h1{font-size:1.4rem}p{line-height:1.5}.en{color:#52606d}"
    "button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#1f6feb;color:#fff;"
    "cursor:pointer}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="cs"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex, nofollow">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def confirmation_page(token: str, email: str) -> str:
    """The GET page: says what the button does; one button, a form POST back to the same link."""
    address = escape(email)
    return _page(
        "Odhlášení / Unsubscribe",
        "<h1>Odhlásit se z dalších e-mailů? <span class=en>/ Unsubscribe from further emails?</span></h1>"
        f"<p>Adrese <strong>{address}</strong> už nepošleme žádné další zprávy.</p>"
        f'<p class=en lang="en">We will send no further messages to <strong>{address}</strong>.</p>'
        f'<form method="post" action="/u/{escape(token, quote=True)}">'
        '<button type="submit">Odhlásit se / Unsubscribe</button></form>',
    )


def done_page(email: str) -> str:
    address = escape(email)
    return _page(
        "Odhlášení proběhlo / You are unsubscribed",
        "<h1>Odhlášení proběhlo <span class=en>/ You are unsubscribed</span></h1>"
        f"<p>Adrese <strong>{address}</strong> už nepošleme žádné další zprávy.</p>"
        f'<p class=en lang="en">We will send no further messages to <strong>{address}</strong>.</p>',
    )


def malformed_page() -> str:
    return _page(
        "Neplatný odkaz / Invalid link",
        "<h1>Tento odkaz není platný <span class=en>/ This link is not valid</span></h1>"
        "<p>Zkontrolujte prosím, že jste zkopírovali celý odkaz z e-mailu.</p>"
        '<p class=en lang="en">Please check that you copied the whole link from the email.</p>',
    )


def unknown_page() -> str:
    return _page(
        "Odkaz nenalezen / Link not found",
        "<h1>Tento odkaz neznáme <span class=en>/ We do not know this link</span></h1>"
        "<p>Odkaz byl změněn, nebo adresa, pro kterou byl vytvořen, už u nás není.</p>"
        '<p class=en lang="en">The link was altered, or the address it was made for is no longer here.</p>',
    )
