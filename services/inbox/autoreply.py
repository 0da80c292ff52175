"""Auto-replies and challenges: the headers automatic mail carries (RFC 3834 and the common servers'), and
where they are missing, the wording of out-of-office and autoresponder texts in English, Czech and German.
Pure.

A person who mentions a holiday in a reply is not an auto-reply: the wording is read only in what the
sender wrote above any quoted text, and without a header or a subject that says so, it takes two signs
(an absence in the present tense and a return, a deputy, limited access or "automatic"), not one.
"""

from __future__ import annotations

import re
from email.message import Message

from services.inbox.mime import header

_AUTO_SUBMITTED = re.compile(r"^\s*auto-(replied|generated|notified)", re.IGNORECASE)
_PRECEDENCE = re.compile(r"^\s*(auto_reply|bulk|junk)\b", re.IGNORECASE)

_AUTO_SUBJECT = re.compile(
    r"^\s*(\[?auto(matic|matische|matická|matick[áý])?[ -]?(reply|response|antwort|odpověď|odpoved|respond\w*)\]?|"
    r"auto:|autoreply|auto-reply|autoresponse|out of (the )?office|ooo\b|abwesen(d|heit)|"
    r"nicht im büro|mimo kancelář|mimo kancelar|nepřítomnost|nepritomnost|vacation|urlaub|dovolená|"
    r"automatische (antwort|benachrichtigung)|automatická odpověď)"
    r"|\b(out of (the )?office|automatic reply|auto(matic)? response|abwesenheitsnotiz|automatische antwort|"
    r"automatická odpověď|mimo kancelář|we (have )?received your (request|message|e-?mail)|"
    r"ticket (received|created)|your request has been received|eingangsbestätigung|"
    r"^\s*thanks? (you )?for (contacting|reaching out|your (message|e-?mail|inquiry|enquiry|request))|"
    r"^\s*(vielen )?dank für ihre (nachricht|anfrage|e-?mail)|^\s*děkujeme za (vaši|váš) (zprávu|dotaz|e-?mail)|"
    r"ihre (anfrage|nachricht) (ist|wurde) .{0,30}(eingegangen|erfasst|registriert)|"
    r"(váš|vaše) (požadavek|dotaz|zpráva) (byl|byla) .{0,20}(přijat|přijata|zaevidován|zaevidována))",
    re.IGNORECASE,
)

# A challenge-response system's sentences: one is enough.
_CHALLENGE = re.compile(
    r"verify (that )?you are (a )?human|prove (that )?you('re| are) (a )?human|"
    r"(awaiting|pending|requires?) (your )?verification|verify your (e-?mail|message|address)|"
    r"complete the verification|click (on )?the link below to (verify|confirm|be added|complete)|"
    r"challenge[- ]response|protect(ing)? (myself|me|my inbox) (from|against) spam|"
    r"ověř(te|ení),? že jste člověk|potvrďte,? že (jste|nejste)|nejste robot|(zpráva|e-?mail) .{0,80}byla zadržena|"
    r"(you are|you're|that you are) not a (ro)?bot|kein (roboter|automatisiertes programm)|"
    r"bestätigen sie,?( \w+,?){0,3} dass sie (ein )?mensch|"
    r"not (yet )?on (my|the|our) (list of )?(approved|allowed|permitted) senders|"
    r"bitte bestätigen sie ihre (e-?mail|nachricht|adresse)|"
    r"confirm (that )?you are a (real )?(person|human)|please confirm your (message|address|e-?mail)|"
    r"only accepts? (mail|e-?mails?|messages) from (senders|people|addresses) who|"
    r"(message|e-?mail) (is|has been) (being )?held|held (for|pending|until) (verification|confirmation|approval)|"
    r"bestätigen sie (bitte )?(einmalig )?ihre (absender)?adresse|wartet auf (bestätigung|freigabe)|"
    r"potvrďte (prosím )?(svou|vaši|svoji) (adresu|zprávu|e-?mailovou adresu)|čeká na (ověření|potvrzení|schválení)",
    re.IGNORECASE,
)
# Words such systems use that a person may use too ("add me to the guest list"): two are needed.
_CHALLENGE_WORDS_WEAK = re.compile(
    r"approved senders?|guest list|whitelist|allow ?list|spam ?arrest|boxbe|sender verification|"
    r"confirmation request|zugelassenen absender|absenderüberprüfung|absenderprüfung|"
    r"absender(verifizierung|bestätigung)|von (bisher )?unbekannten absendern|ověření odesílatele|"
    r"od neznámých odesílatelů|ověřte|schválen(é|ých) odesílatel|ověřováním odesílatel",
    re.IGNORECASE,
)

# An absence, in the present (an out-of-office text), and what such texts go on to say.
_ABSENT = re.compile(
    r"\b(i am|i['\u2019]m|we are|we're)\s+(currently |now |presently )?(out of (the )?office|out|away|on (annual |parental |sick )?"
    r"(leave|vacation|holiday|holidays)|travell?ing|not in the office|out of town|unavailable|off)\b|"
    r"\bout of (the )?office (until|till|through|from)\b|\b(currently|presently) (out of (the )?office|away|on leave)\b|"
    r"\bi (will|shall) be (out of (the )?office|away|on (leave|vacation|holiday)) (until|till|through|from)\b|"
    r"\b(no longer (with|at|working)|has left|have left) (the company|[A-Z][\w&. -]{1,40})|"
    r"\bjsem\s+(momentálně |nyní |právě )?(mimo (kancelář|kancelar|office)|na dovolen[éeé]|nepřítomn[ýáa]|"
    r"v nepřítomnosti|na služební cestě|mimo)|\bnejsem (v kanceláři|k zastižení|v práci)|"
    r"\b(čerpám|mám) dovolenou|\bnepřítomn(ý|á|a|en|na) (do|od)\b|"
    r"\bbin\s+(derzeit |zurzeit |momentan |aktuell |gerade )?(nicht im büro|abwesend|im urlaub|außer haus|"
    r"nicht erreichbar|auf (dienst)?reise)|\b(befinde mich|bin) (derzeit |zurzeit )?im urlaub|"
    r"\bnicht im büro\b|\b(befinde mich|bin) .{0,60}?\b(im urlaub|nicht im (büro|laden|geschäft|betrieb|haus)|"
    r"abwesend|außer haus)\b|"
    r"\b(our |the )?(office|company|firm) (is|will be) closed\b|\bclosed (for|over) (the )?(christmas|holidays?|new year)|"
    r"\bbetriebsurlaub\b|\bpoštu (ne)?vyřizuj|\bnevyřizuji (poštu|e-?maily|zprávy)|\bz důvodu (vánočních )?(svátků|dovolené)|"
    r"\bv kanceláři (budu|jsem) (opět |zase |znovu |zpět )?(od|v|dne)\b|"
    r"\b(this |the )?(e-?mail )?(address|mailbox|account) will be (closed|deactivated|discontinued|deleted)|"
    r"\b(tato |tahle )?(e-?mailová )?(adresa|schránka) bude (zrušena|uzavřena|deaktivována)|"
    r"\b(dieses?|die|das) (e-?mail-?adresse|adresse|mailbox|postfach|e-?mail-?konto|konto) ((wird|ist) )?"
    r"(nicht|nicht mehr|nicht regelmäßig|nicht länger) (überwacht|gelesen|aktiv|genutzt|betreut)|\b(büro|firma|unternehmen) (ist|bleibt) .{0,30}geschlossen|"
    r"\b(kancelář|firma|provozovna) (je|bude) .{0,30}(zavřená|uzavřena|zavřena)|"
    r"\b(this |the )?(mailbox|inbox|e-?mail address|address|account) is no longer (monitored|in use|active|checked|read)|"
    r"\b(diese|die) (e-?mail-?adresse|adresse|mailbox|postfach) (wird|ist) nicht mehr (überwacht|gelesen|aktiv|genutzt|betreut)|"
    r"\b(tato|tahle) (e-?mailová )?(adresa|schránka) (již |už )?není (sledována|používána|aktivní|čtena)|"
    r"\bnicht mehr (in unserem unternehmen|in unserem hause|bei uns|für uns|im unternehmen|bei der firma) "
    r"(tätig|beschäftigt)|\bhat (unser unternehmen|das unternehmen|uns) verlassen|"
    r"\b(už|již) (ve společnosti|ve firmě|u nás|pro nás) (nepracuje|nepůsobí)|\bopustil(a)? (naši )?(společnost|firmu)|"
    r"\bno longer (works|employed|working) (at|with|for)\b",
    re.IGNORECASE,
)
_AUTO_SIGNS = re.compile(
    r"\b(back|return(ing)?|be back|in the office again) (on|in|by|from|after)\b|\buntil\b|\breturn on\b|"
    r"limited (access|e-?mail access)|urgent (matters|inquiries|requests|cases)|in urgent cases|"
    r"(please )?contact (my colleague|my deputy|our team|[A-Z][a-z]+ at)|"
    r"(respond|reply|answer|get back to you)( to your (e-?mail|message))? (as soon as possible |asap )?"
    r"(upon|on|after) my return|"
    r"(this is an |this message is an )?automat(ic|ed|ically) (reply|response|generated|message|sent)|"
    r"will not be (forwarded|read|answered)|(has|have) not been forwarded|(is|are) not (being )?forwarded|"
    r"(lese|prüfe|checke) (meine )?e-?mails? (nur )?(unregelmäßig|eingeschränkt|sporadisch)|"
    r"checking (my )?e-?mails? (only )?(occasionally|intermittently|sporadically|periodically)|"
    r"e-?maily (čtu|kontroluji|vyřizuji) (jen |pouze )?(občas|nepravidelně|omezeně)|"
    r"please contact \S+@|(please )?(write|send|e-?mail) (to|us at) \S+@|pište (prosím )?na \S+@|"
    r"schreiben sie (uns )?(bitte )?an \S+@|contact us at \S+@|kontaktujte (prosím )?\S+@|wenden sie sich (bitte )?an \S+@|"
    r"volejte prosím|rufen sie (uns |mich )?(bitte )?.{0,80}\ban\b|(will|won't) be (read|answered)|(i'll|i will) (be back|get back to you)|"
    r"\b(zpět|zpátky) (budu )?(v|od|dne|\d)|\bbudu (zpět|zpátky|k dispozici)|\bvrátím se\b|\bdo \d{1,2}\. ?\d{1,2}\.|"
    r"omezen(ý|ým) přístup|v naléhavých případech|obraťte se (prosím )?na|automaticky (vygenerovan|odeslan|generovan)|"
    r"automatick(á|ou) odpověď|po (mém )?návratu|"
    r"\bab (dem |den )?\d{1,2}\.|\bwieder (erreichbar|im büro|da)|\bbis (zum |einschließlich )?\d{1,2}\.|"
    r"\bbis (einschließlich )?\w+, (den )?\d|eingeschränkt(em)? (zugriff|erreichbar)|in dringenden fällen|"
    r"wenden sie sich (bitte )?an|automatisch (generiert|erstellt|versendet)|automatische (antwort|nachricht)|"
    r"nach meiner rückkehr|keine weiterleitung|nicht weitergeleitet|wird nicht gelesen|"
    r"(richten|wenden) sie (sich|ihre anfrage|ihre e-?mail)|nebude (přeposlán|přečten|čten)|"
    r"(kontaktujte|pište) (prosím )?(na|kolegu|kolegyni)",
    re.IGNORECASE,
)


def auto_headers(message: Message) -> str | None:
    """The rule, when a header says the message was sent automatically."""
    if _AUTO_SUBMITTED.match(header(message, "Auto-Submitted")):
        return "header.auto_submitted"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated"):
        value = header(message, name)
        if value and value.strip().lower() not in ("no", "false", "0"):
            return f"header.{name.lower().replace('-', '_')}"
    if _PRECEDENCE.match(header(message, "Precedence")):
        return "header.precedence"
    if message.get("X-MS-Exchange-Inbox-Rules-Loop"):
        return "header.exchange_inbox_rule"
    if header(message, "X-Auto-Response-Suppress") and _AUTO_SUBJECT.search(header(message, "Subject")):
        return "header.exchange_auto_response"
    return None


_READ_SUBJECT = re.compile(
    r"^\s*(read|přečteno|přečtená|gelesen|lu|leído|letto|not read|nepřečteno|ungelesen)\s*:", re.IGNORECASE
)


_WAS_READ = re.compile(
    r"was read on|wurde am .{0,40}gelesen|byla .{0,30}přečtena|byla přečtena|a été lue", re.IGNORECASE
)


def is_read_receipt(message: Message, subject: str, text: str) -> bool:
    """A client's read receipt sent without the RFC 8098 report ("Read: …", "Your message … was read on
    …"): sent automatically, not by the person."""
    if not _READ_SUBJECT.match(subject):
        return False
    return bool(message.get("Original-Message-ID")) or bool(_WAS_READ.search(text[:2000]))


# Words one of which every challenge pattern holds: a text without any is no challenge, and the pattern,
# a long alternation, need not run over it.
_CHALLENGE_WORDS = (
    "verif",
    "human",
    "mensch",
    "člověk",
    "approved",
    "allow",
    "whitelist",
    "guest list",
    "spam",
    "boxbe",
    "challenge",
    "confirm",
    "bestätig",
    "potvrď",
    "ověř",
    "zugelassen",
    "held",
    "absender",
    "odesílatel",
)


# Gone for good (left the company, an address closed or unread): such a text states no return.
_GONE = re.compile(
    r"no longer (works|employed|working|with|monitored|in use|active)|has left|will be (closed|deactivated|deleted)|"
    r"nicht mehr|verlassen|bude (zrušena|uzavřena|deaktivována)|(už|již) .{0,20}nepracuje|opustil",
    re.IGNORECASE,
)


def _flat(text: str) -> str:
    """The first screen of a text on one line, so that a phrase broken over lines reads as one."""
    return " ".join(text[:3000].split())


def gone_for_good(text: str) -> bool:
    return bool(_GONE.search(_flat(text)))


def is_challenge(subject: str, text: str) -> bool:
    head = (subject + "\n" + text[:4000]).lower()
    if not any(word in head for word in _CHALLENGE_WORDS):
        return False
    if _CHALLENGE.search(subject) or _CHALLENGE.search(text[:4000]):
        return True
    return len({m.group(0).lower() for m in _CHALLENGE_WORDS_WEAK.finditer(head)}) >= 2


def auto_wording(subject: str, own: str) -> str | None:
    """The rule, when the subject or the sender's own words are an automatic reply's."""
    head = _flat(own)
    if _AUTO_SUBJECT.search(subject) and not re.match(r"^\s*(re|aw|odp|antw)\s*:", subject, re.IGNORECASE):
        return "subject.auto_reply"
    if _ABSENT.search(head) and _AUTO_SIGNS.search(head):
        return "wording.absence"
    if re.search(
        r"automat(ic|ed|ically) (reply|response|generated)|automatische antwort|automatická odpověď|"
        r"we (have )?received your (message|e-?mail|request|inquiry|enquiry)[^.]{0,80}"
        r"(get back to you|respond|reply|be in touch|contact you) (within|in) (\d|one|two|24|48)|"
        r"(ihre anfrage|your (request|ticket|case|enquiry)|váš (požadavek|dotaz)) (wurde|has been|was|byl)"
        r" .{0,40}(erfasst|eingegangen|received|created|logged|registered|přijat|zaevidován)|"
        r"tato zpráva (byla )?(vygenerována|odeslána|generována) automaticky|"
        r"diese nachricht wurde automatisch",
        head,
        re.IGNORECASE,
    ):
        return "wording.automatic"
    return None
