"""The queue's states are written into the claim statements as literals, not bound: a partial index
(`validations_queue`, `WHERE state = 'queued'`) is used for a query only when its predicate is in the text."""

from __future__ import annotations

from services.validator.domain import ValidationState
from services.validator.repository import _CLAIM, _QUEUES
from services.validator.tables import validations


def test_the_claim_statements_name_the_queued_state_literally() -> None:
    assert str(_QUEUES).count(f"state = '{ValidationState.QUEUED.value}'") == 2
    assert f"v.state = '{ValidationState.QUEUED.value}'" in str(_CLAIM)
    assert f"SET state = '{ValidationState.PROBING.value}'" in str(_CLAIM)


def test_the_partial_indexes_are_the_ones_the_statements_name() -> None:
    predicates = {
        index.name: str(index.dialect_options["postgresql"]["where"])
        for index in validations.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    }
    assert predicates == {
        "validations_queue": "state = 'queued'",
        "validations_leases": "state = 'probing'",
    }
