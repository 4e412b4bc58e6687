"""``flask stats``: the statistics' totals (``totals.py``) and the assessment's daily rollups
(``rollups.py``), which the worker's timers lane keeps at every pass."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from webapp.db import get_session
from webapp.stats import rollups, totals
from webapp.stats.figures import hidden_cases


@click.group("stats")
def stats_cmd() -> None:
    """The statistics' totals and daily rollups."""


@stats_cmd.command("rebuild-rollups")
@with_appcontext
def rebuild_cmd() -> None:
    """Fold every case and every closed local day again, with the progress."""
    session = get_session()
    started = time.monotonic()
    cases = totals.rebuild(session, echo=click.echo)
    click.echo(f"{cases} cases folded into the totals in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    days = rollups.rebuild(session, echo=click.echo)
    through, _at = rollups.state(session)
    took = time.monotonic() - started
    click.echo(f"{days} days folded in {took:.1f} s; the rollups run through {through}")


@stats_cmd.command("fold")
@with_appcontext
def fold_cmd() -> None:
    """Fold what changed since the last fold (the worker does this at every pass)."""
    session = get_session()
    cases = 0
    while folded := totals.fold_due(session):
        cases += folded
        click.echo(f"  {cases} cases folded into the totals")
    days = rollups.fold_due(session, max_days=None, progress=lambda a, b: click.echo(f"  folded {a} .. {b}"))
    through, _at = rollups.state(session)
    click.echo(f"{cases} cases and {days} days folded; the rollups run through {through}")


@stats_cmd.command("check")
@with_appcontext
def check_cmd() -> None:
    """Count every case's facts again and compare them with the totals (exit 1 on a difference)."""
    session = get_session()
    started = time.monotonic()
    found = totals.check(session, hidden_cases(session))
    after, _generation, at = totals.mark(session)
    for line in found[:50]:
        click.echo(f"  {line}")
    took = time.monotonic() - started
    folded = f"folded through event {after}" + (f" at {at.isoformat()}" if at else "")
    if found:
        click.echo(f"{len(found)} totals differ ({folded}; {took:.1f} s)")
        raise SystemExit(1)
    click.echo(f"the totals match every case ({folded}; {took:.1f} s)")


@stats_cmd.command("drop-rollups")
@with_appcontext
def drop_cmd() -> None:
    """Forget the totals and the rollups (the worker folds the history again)."""
    session = get_session()
    totals.drop(session)
    rollups.drop(session)
    click.echo("rollups dropped: the statistics count every day live until folded again")
