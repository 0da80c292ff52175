"""Leases on the rows of a work table: who is working on which row, until when, and under which token.

A worker claims due rows with a lease (`FOR UPDATE SKIP LOCKED`: two workers never take the same row) and
works on them outside any transaction. Each claim carries a token; a worker records or hands back only
the rows whose token is still its own, so a worker whose lease ran out (it stalled, another took the rows
over) records nothing. A row is due when the table's own condition says so, its `not_before` time has
come (a retry schedule, a step that is due later) and it is not leased, or its lease ran out.

With a `key` column (a mailbox, a domain), a claim can also keep at most `per_key` rows of each key
leased at once, across every worker: the keys are taken with transaction-scoped advisory locks (skipped
when another claim holds them, as SKIP LOCKED skips rows), and the rows already leased are counted only
after that, in a statement of their own, so the count sees every claim of that key that committed.

`LeasedRows` says where a table keeps this (its columns); which rows a claim wants first, and what a
recorded row becomes, stay with the service that owns the table. The loop that claims, works, records
and waits is `leased_work.LeasedWorker`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Integer,
    Interval,
    Row,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession


class Leased(Protocol):
    """A claimed row, as the service holds it: its id and the token of the claim that took it."""

    @property
    def row_id(self) -> Any: ...

    @property
    def token(self) -> Any: ...


@dataclass(frozen=True)
class Claim:
    """A row taken by `LeasedRows.claim`: its id, the claim's token, and the whole row as it was leased."""

    row_id: Any
    token: Any
    row: Row[Any]


@dataclass(frozen=True)
class LeasedRows:
    """Where `table` keeps its leases.

    `leased_until` is NULL while a row is not leased. `token` is a uuid column set anew by each claim;
    without one, the lease's end is the token (one value per claiming transaction: `now()` is the
    transaction's time). `claimable` is the table's own condition for a row that may be claimed (e.g. its
    state is `queued`); `on_claim` the values a claim sets besides the lease (e.g. state `probing`), and
    `on_release` those that hand a row back (e.g. state `queued` again).
    """

    table: Table
    id: Column[Any]
    leased_until: Column[Any]
    not_before: Column[Any] | None = None
    token: Column[Any] | None = None
    key: Column[Any] | None = None
    claimable: ColumnElement[bool] = field(default_factory=true)
    on_claim: Mapping[str, Any] = field(default_factory=dict)
    on_release: Mapping[str, Any] = field(default_factory=dict)
    # The plain claim statement (no per-key limit, the default order), built once: building it anew for
    # every batch cost a busy worker more than executing it.
    _plain_claim: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def due(self) -> ColumnElement[bool]:
        """Rows a claim may take now: claimable, their time come, not leased (or the lease ran out)."""
        conditions = [
            self.claimable,
            or_(self.leased_until.is_(None), self.leased_until < func.now()),
        ]
        if self.not_before is not None:
            conditions.append(self.not_before <= func.now())
        return and_(*conditions)

    def lease_values(self, lease: timedelta) -> dict[str, Any]:
        """The values that lease a row (for a service's own claim statement)."""
        values: dict[str, Any] = {
            self.leased_until.name: func.now() + bindparam("lease", lease, type_=Interval),
            **self.on_claim,
        }
        if self.token is not None:
            values[self.token.name] = func.gen_random_uuid()
        return values

    def _token_column(self) -> Column[Any]:
        return self.token if self.token is not None else self.leased_until

    def _ended(self) -> dict[str, Any]:
        values: dict[str, Any] = {self.leased_until.name: None, **self.on_release}
        if self.token is not None:
            values[self.token.name] = None
        return values

    def _still_held(self, claims: Sequence[Leased]) -> ColumnElement[bool]:
        """The rows of `claims` whose token is still the claim's: one array parameter per column."""
        ids = literal([c.row_id for c in claims], ARRAY(self.id.type))
        pairs = select(
            func.unnest(ids),
            func.unnest(literal([c.token for c in claims], ARRAY(self._token_column().type))),
        )
        # The ids alone let the primary key find the rows; the pairs then check each one's token.
        return and_(self.id == any_(ids), tuple_(self.id, self._token_column()).in_(pairs))

    async def claim(
        self,
        session: AsyncSession,
        limit: int,
        lease: timedelta,
        *,
        per_key: int | None = None,
        order_by: Sequence[ColumnElement[Any]] = (),
    ) -> list[Claim]:
        """Lease up to `limit` due rows (the earliest `not_before` first, or `order_by`), skipping rows
        another transaction is claiming; with `per_key`, at most that many leased rows per key in all."""
        if limit <= 0:
            return []
        order = list(order_by) or ([self.not_before] if self.not_before is not None else [self.id])
        parameters = {"lease": lease, "claim_limit": limit}
        if per_key is None and not order_by:
            statement = self._plain_claim.get("statement")
            if statement is None:
                statement = self._plain_claim["statement"] = self._claim_statement(
                    self._pick(order, bindparam("claim_limit", type_=Integer))
                )
        elif per_key is None:
            statement = self._claim_statement(self._pick(order, limit))
        else:
            keys = await self._lock_keys(session, limit, per_key)
            if not keys:
                return []
            statement = self._claim_statement(self._per_key_pick(keys, limit, per_key, order))
        rows = (
            await session.execute(statement, parameters, execution_options={"synchronize_session": False})
        ).all()
        token = self._token_column().name
        return [Claim(getattr(row, self.id.name), getattr(row, token), row) for row in rows]

    def _pick(self, order: Sequence[ColumnElement[Any]], limit: Any) -> Any:
        return (
            select(self.id.label("id"))
            .where(self.due())
            .order_by(*order)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )

    def _claim_statement(self, picked: Any) -> Any:
        """Lease the picked rows (the lease's length is the statement's `lease` parameter)."""
        return (
            update(self.table)
            .where(self.id == picked.c.id)
            .values(self.lease_values(timedelta(0)))
            .returning(*self.table.c)
        )

    async def _lock_keys(self, session: AsyncSession, limit: int, per_key: int) -> list[Any]:
        """Keys with due rows and room for more, earliest due first, that this transaction now holds."""
        assert self.key is not None, "a per-key limit needs the table's key column"
        leased = self.table.alias("leased")
        busy = (
            select(func.count())
            .where(leased.c[self.key.name] == self.key, leased.c[self.leased_until.name] > func.now())
            .correlate(self.table)
            .scalar_subquery()
        )
        first_due = func.min(self.not_before) if self.not_before is not None else func.min(self.id)
        candidates = (
            select(self.key.label("key"))
            .where(self.due(), busy < per_key)
            .group_by(self.key)
            .order_by(first_due)
            .limit(limit)
            .subquery("candidates")
        )
        # A volatile function in the outer WHERE: PostgreSQL evaluates it on the candidates only.
        tag = func.hashtext(literal(self.table.fullname))
        locked = select(candidates.c.key).where(
            func.pg_try_advisory_xact_lock(tag, func.hashtext(cast(candidates.c.key, Text)))
        )
        return list(await session.scalars(locked))

    def _per_key_pick(
        self, keys: Collection[Any], limit: int, per_key: int, order: Sequence[ColumnElement[Any]]
    ) -> Any:
        """Each locked key's earliest due rows, up to its room (per_key minus its leased rows, counted in
        this statement: after the keys were locked)."""
        assert self.key is not None
        wanted = (
            func.unnest(literal(list(keys), ARRAY(self.key.type)))
            .table_valued("key")
            .render_derived(name="wanted")
        )
        leased = self.table.alias("leased")
        busy = (
            select(func.count().label("n"))
            .where(
                leased.c[self.key.name] == wanted.c.key,
                leased.c[self.leased_until.name] > func.now(),
            )
            .lateral("busy")
        )
        rows = (
            select(self.id.label("id"))
            .where(self.key == wanted.c.key, self.due())
            .order_by(*order)
            .limit(func.greatest(per_key - busy.c.n, 0))
            .with_for_update(skip_locked=True)
            .lateral("rows")
        )
        return (
            select(rows.c.id)
            .select_from(wanted.join(busy, true()).join(rows, true()))
            .limit(limit)
            .cte("picked")
        )

    async def owned(self, session: AsyncSession, claims: Sequence[Leased]) -> set[Any]:
        """The ids of `claims` whose token is still the claim's, locked until the transaction ends: a row
        whose lease ran out may have been claimed again, and even recorded, by another worker."""
        if not claims:
            return set()
        return set(await session.scalars(select(self.id).where(self._still_held(claims)).with_for_update()))

    async def end(self, session: AsyncSession, claims: Sequence[Leased]) -> int:
        """End the lease of those of `claims` still held (`on_release` values with it); the rest, taken
        over by another claim or already recorded, are left alone."""
        return await self._update_held(session, claims, self._ended())

    async def retry_later(self, session: AsyncSession, claims: Sequence[Leased], after: timedelta) -> int:
        """Hand the rows of `claims` still held back, due again `after` from now."""
        assert self.not_before is not None, "a retry schedule needs the table's not_before column"
        values = {**self._ended(), self.not_before.name: func.now() + literal(after, Interval)}
        return await self._update_held(session, claims, values)

    async def _update_held(
        self, session: AsyncSession, claims: Sequence[Leased], values: dict[str, Any]
    ) -> int:
        if not claims:
            return 0
        result = await session.execute(
            update(self.table).where(self._still_held(claims)).values(values),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def lapse(self, session: AsyncSession, *also: ColumnElement[bool]) -> int:
        """Rows whose lease ran out are handed back (`on_release`): for a table whose `claimable` excludes
        leased rows by a state of its own, which the lease running out does not change. `also` narrows
        the search (a state that a partial index on `leased_until` covers)."""
        lapsed = (
            select(self.id)
            .where(self.leased_until < func.now(), *also)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await session.execute(
            update(self.table).where(self.id.in_(lapsed)).values(self._ended()),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0)
