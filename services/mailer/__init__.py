"""Mailer: renders and sends due steps over SMTP from the sender mailboxes, at most once per lead and step.

Owns schema `mailer`; consumes StepDue, emits EmailSent and EmailBounced(source=smtp).
"""
