"""Validator: verifies every imported address (syntax, MX, SMTP probe, catch-all) before anything is sent.

Owns schema `validator`; consumes LeadImported, emits LeadValidated, moves leads Pending → Invalid.
"""
