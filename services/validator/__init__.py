"""Validator: verifies every imported address (syntax, MX, SMTP probe, catch-all) before anything is sent.

Owns schema `validator`; consumes LeadImported, emits LeadsValidated (verdicts in batches, each with its
validation run), which move leads Pending → Invalid; holds leads while its own prober or DNS is at fault;
answers `validation_status` and `rerun_validation`.
"""
