"""Hash-chained history: chain, seq, hashes; chain heads

Existing events are sealed in id order, one chain per case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:24:10
"""

from __future__ import annotations

from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_chain_heads")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.alter_column("case_id", existing_type=sa.INTEGER(), nullable=True)
    _seal_existing()
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.alter_column("chain", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_case_events_actor_created", ["actor_id", "created_at"], unique=False)
        batch_op.create_index("ix_case_events_unit_created", ["unit_code", "created_at"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_case_events_chain"), ["chain", "seq"])


def _seal_existing() -> None:
    # the hash function is the application's, a frozen contract (webapp/audit/chain.py);
    # rows are read with Core so that later model changes cannot break this migration
    from webapp.audit.chain import GENESIS, event_hash
    from webapp.db import UTCDateTime

    events = sa.table(
        "case_events",
        *(sa.column(name) for name in ("id", "case_id", "kind", "actor_id", "unit_code", "task_id", "element_id",
                                       "chain", "seq", "prev_hash", "hash")),
        sa.column("data", sa.JSON()),
        sa.column("active_elements", sa.JSON()),
        sa.column("completed_elements", sa.JSON()),
        sa.column("created_at", UTCDateTime()),
    )
    heads = sa.table("chain_heads", sa.column("chain"), sa.column("length"), sa.column("head_hash"))
    bind = op.get_bind()
    state: dict[str, tuple[int, str]] = {}
    rows = bind.execute(sa.select(events).order_by(events.c.case_id, events.c.id)).mappings().all()
    for row in rows:
        e = SimpleNamespace(**row)
        e.chain = f"case:{e.case_id}"
        length, prev = state.get(e.chain, (0, GENESIS))
        e.seq, e.prev_hash = length + 1, prev
        e.hash = event_hash(prev, e)
        bind.execute(events.update().where(events.c.id == e.id)
                     .values(chain=e.chain, seq=e.seq, prev_hash=e.prev_hash, hash=e.hash))
        state[e.chain] = (e.seq, e.hash)
    for chain, (length, head_hash) in state.items():
        bind.execute(heads.insert().values(chain=chain, length=length, head_hash=head_hash))


def downgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_case_events_chain"), type_="unique")
        batch_op.drop_index("ix_case_events_unit_created")
        batch_op.drop_index("ix_case_events_actor_created")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("chain")
    op.drop_table("chain_heads")
