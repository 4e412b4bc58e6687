"""Flask CLI commands: ``flask --app webapp <command>``."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from sqlalchemy import func, select

from webapp import catalog as catalog_mod
from webapp.audit import anchor
from webapp.audit.chain import chain_of
from webapp.auth import tokens
from webapp.cases import liveness, timers, upgrade
from webapp.cases import migration as case_migration
from webapp.cases.versions import deploy
from webapp.db import get_engine, get_session
from webapp.engine import Obstacle
from webapp.errors import DomainError
from webapp.models import Case, User
from webapp.reference import create_user, load_units
from webapp.stats.commands import stats_cmd

DEFAULT_DEMO_PASSWORD = "liandong-demo"  # noqa: S105 - printed demo password, development only


def register(app: Flask) -> None:
    app.cli.add_command(demo)
    app.cli.add_command(units_cmd)
    app.cli.add_command(users)
    app.cli.add_command(tokens_cmd)
    app.cli.add_command(timers_cmd)
    app.cli.add_command(deploy_cmd)
    app.cli.add_command(processes_cmd)
    app.cli.add_command(audit_cmd)
    app.cli.add_command(worker_cmd)
    app.cli.add_command(calendar_cmd)
    app.cli.add_command(cases_cmd)
    app.cli.add_command(backup_cmd)
    app.cli.add_command(restore_cmd)
    app.cli.add_command(stats_cmd)


@click.command("demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo(if_empty: bool) -> None:
    """Load units, one demo user per unit and role, and demo cases."""
    from webapp import demo as demo_data

    session = get_session()
    if if_empty and session.scalar(select(func.count(User.id))):
        click.echo("Database already has users; demo data not loaded.")
        return
    password = os.environ.get("LIANDONG_DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)
    users = demo_data.load_users(session, catalog_mod.current(), password)
    session.commit()
    paths = demo_data.DemoPaths(current_app.config["FORMS_DIR"], current_app.config["PROCESSES_DIR"])
    if not session.scalar(select(func.count(Case.id))):
        ids = demo_data.load_cases(session, paths)
        click.echo(f"Demo cases: {', '.join(map(str, ids))}")
    click.echo(
        f"Demo users ({len(users)} new): one per unit code (e.g. bank_icbc, office, court), plus "
        f"supervisor, auditor and admin. Password for all: {password}"
    )


@click.command("units")
@with_appcontext
def units_cmd() -> None:
    """Load or update units from webapp/data/units.toml."""
    session = get_session()
    added = load_units(session, catalog_mod.current())
    session.commit()
    click.echo(f"{added} new units")


@click.group("users", cls=AppGroup)
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--unit", required=True)
@click.option("--roles", default="caseworker", help="Comma-separated: caseworker,supervisor,auditor,admin")
@click.password_option()
def create_user_cmd(username: str, unit: str, roles: str, password: str) -> None:
    session = get_session()
    try:
        create_user(session, username, unit, [r.strip() for r in roles.split(",") if r.strip()], password)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    session.commit()
    click.echo(f"user {username} created")


@click.group("tokens", cls=AppGroup)
def tokens_cmd() -> None:
    """API bearer tokens."""


@tokens_cmd.command("issue")
@click.argument("username")
@click.option("--label", default="")
def issue_token(username: str, label: str) -> None:
    """Issue a token for USERNAME and print it (shown once, stored hashed)."""
    session = get_session()
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username}")
    token = tokens.issue(session, user, label)
    session.commit()
    click.echo(token)


@tokens_cmd.command("list")
@click.argument("username")
def list_tokens(username: str) -> None:
    """List USERNAME's tokens: id, created, last used, revoked, label."""
    session = get_session()
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username}")

    def when(moment: dt.datetime | None) -> str:
        return moment.isoformat(timespec="seconds") if moment else "-"

    rows = tokens.of_user(session, user.id)
    click.echo("id\tcreated\tlast used\trevoked\tlabel")
    for row in rows:
        click.echo(
            f"{row.id}\t{when(row.created_at)}\t{when(row.last_used_at)}\t{when(row.revoked_at)}\t{row.label}"
        )
    click.echo(f"{len(rows)} token(s), {sum(r.revoked_at is None for r in rows)} active")


@tokens_cmd.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1, max=2**63 - 1))
def revoke_token(token_id: int) -> None:
    """Revoke the token TOKEN_ID: refused (401) from the next request on."""
    session = get_session()
    row = tokens.revoke(session, token_id)
    if row is None:
        raise click.ClickException(f"no token {token_id}")
    session.commit()
    at = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-"
    click.echo(f"token {row.id} of {row.user.username} revoked at {at}")


@click.group("timers", cls=AppGroup)
def timers_cmd() -> None:
    """BPMN timers (rectification deadlines, monitoring periods)."""


@timers_cmd.command("fire")
def fire() -> None:
    """Fire every timer that is due now."""
    report = timers.fire_due(get_session())
    click.echo(f"fired {len(report.fired)} case(s): {', '.join(map(str, report.fired)) or '-'}")
    if report.busy:
        busy = ", ".join(map(str, report.busy))
        click.echo(f"passed over {len(report.busy)} case(s) another transaction held (next run): {busy}")
    for case_id, message in report.failed:
        click.echo(f"case {case_id}: incident recorded: {message}", err=True)
    if report.failed:
        raise SystemExit(1)


@click.group("cases", cls=AppGroup)
def cases_cmd() -> None:
    """Cases: what keeps them from moving on."""


@cases_cmd.command("check")
def cases_check() -> None:
    """List stalled cases and cases with an incident; exit 1 when there is any."""
    session = get_session()
    stalled = liveness.stalled_cases(session)
    incidents = liveness.incident_cases(session)
    for case in stalled:
        since = case.since.isoformat(timespec="seconds")
        click.echo(f"stalled  case {case.id}  {case.debtor_name}  stage {case.stage}  since {since}")
    for case in incidents:
        message = " ".join((case.incident or "").split())  # one line per case
        click.echo(f"incident case {case.id}  {message}")
    click.echo(f"{len(stalled)} stalled, {len(incidents)} incidents")
    if stalled or incidents:
        raise SystemExit(1)


@cases_cmd.command("upgrade-state")
def cases_upgrade_state() -> None:
    """Rewrite every stored case state through the engine's serializer and repair stalled
    cases (each gets its missing next task, recorded as a repair). Safe to run again."""
    session = get_session()
    total = session.scalar(select(func.count(Case.id))) or 0
    session.rollback()

    def progress(done: int) -> None:
        click.echo(f"  {done}/{total} cases", err=True)

    report = upgrade.upgrade_states(session, progress=progress if total > 500 else None)
    for case_id, elements in report.repaired:
        click.echo(f"case {case_id}: repaired {', '.join(sorted(set(elements)))}")
    for case_id, message in report.failed:
        click.echo(f"case {case_id}: not upgraded: {message}", err=True)
    click.echo(
        f"{report.cases} case states rewritten, {len(report.repaired)} repaired, {len(report.failed)} failed"
    )
    if report.failed:
        raise SystemExit(1)


@click.command("deploy")
@click.option("--process", "process_key", default=None, help="Only this process of processes/catalog.toml.")
@with_appcontext
def deploy_cmd(process_key: str | None) -> None:
    """Store each process's diagram of processes/ as a process version (new cases use it); a
    line each, the catalogue's default process first."""
    session = get_session()
    keys = list(catalog_mod.current().processes)
    if process_key is not None:
        if process_key not in keys:
            raise click.BadParameter(f"not in processes/catalog.toml: {process_key}", param_hint="--process")
        keys = [process_key]
    for key in keys:
        version = deploy(session, current_app.config["PROCESSES_DIR"], key)
        session.commit()
        click.echo(f"process version {version.id} ({version.content_sha256[:12]}) {key}")


@click.group("processes", cls=AppGroup)
def processes_cmd() -> None:
    """Deployed process versions and the move of running cases between them."""


@processes_cmd.command("versions")
def processes_versions() -> None:
    """List the deployed versions with their running and closed cases."""
    for v in case_migration.versions(get_session(), current_app.config["PROCESSES_DIR"]):
        mark = "  current" if v.current else ""
        click.echo(
            f"{v.id:>4}  {v.process_id}  {v.short_hash}  {v.deployed_at.isoformat(timespec='seconds')}"
            f"  running {v.running}  closed {v.closed}{mark}"
        )


@processes_cmd.command("migrate")
@click.option("--from", "from_version", type=int, required=True, help="Source version id.")
@click.option("--to", "to_version", type=int, required=True, help="Target version id (newer, same process).")
@click.option("--dry-run", is_flag=True, help="Only say which cases can move and why others cannot.")
def processes_migrate(from_version: int, to_version: int, dry_run: bool) -> None:
    """Move the running cases of a version to a newer one, each case in its own transaction;
    a case whose active elements the target lacks stays where it is. Safe to run again."""
    session = get_session()
    try:
        if dry_run:
            result = case_migration.dry_run(session, from_version, to_version)
            for case in result.cases:
                click.echo(
                    f"case {case.case_id}  {case.stage}  " + ("can move" if case.movable else "blocked")
                )
                for obstacle in case.obstacles:
                    click.echo(f"    {_obstacle_line(obstacle)}")
            click.echo(
                f"{len(result.movable)} can move, {len(result.blocked)} blocked (dry run: nothing moved)"
            )
            return

        def progress(done: int, total: int) -> None:
            click.echo(f"  {done}/{total} cases", err=True)

        report = case_migration.migrate(session, from_version, to_version, None, progress=progress)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    for case_id in report.moved:
        click.echo(f"case {case_id}: moved to version {to_version}")
    for case in report.blocked:
        click.echo(f"case {case.case_id}: stays on version {from_version}")
        for obstacle in case.obstacles:
            click.echo(f"    {_obstacle_line(obstacle)}")
    for case_id, message in report.failed:
        click.echo(f"case {case_id}: not moved: {message}", err=True)
    click.echo(f"{len(report.moved)} moved, {len(report.blocked)} blocked, {len(report.failed)} failed")
    if report.failed:
        raise SystemExit(1)


def _obstacle_line(obstacle: Obstacle) -> str:
    where = f"{obstacle.element_id} ({obstacle.state}): " if obstacle.element_id else ""
    detail = f" [{obstacle.detail}]" if obstacle.detail else ""
    return f"{where}{obstacle.reason}{detail}"


@click.group("audit", cls=AppGroup)
def audit_cmd() -> None:
    """The hash-chained history."""


@audit_cmd.command("verify")
@click.option("--case", "case_id", type=int, help="Only this case's chain.")
def audit_verify(case_id: int | None) -> None:
    """Verify the history chains, and each against its latest checkpoint; exit 1 naming the
    first altered, removed or inserted event, a truncated or rewritten chain, a forged checkpoint."""
    session = get_session()
    verdicts = anchor.verify(session, current_app.config, chain_of(case_id) if case_id else None)
    broken = [v for v in verdicts if not v.ok]
    for verdict in broken:
        click.echo(verdict.describe(), err=True)
    events = sum(v.events for v in verdicts)
    click.echo(f"{len(verdicts)} chain(s), {events} events: {len(broken)} altered")
    if broken:
        raise SystemExit(1)


@audit_cmd.command("checkpoint")
@click.option(
    "--accept",
    is_flag=True,
    help="Also record chains that do not extend their checkpoint (after restoring a backup).",
)
def audit_checkpoint(accept: bool) -> None:
    """Append a signed checkpoint of every chain head that moved to the checkpoint log."""
    try:
        result = anchor.write_checkpoint(get_session(), current_app.config, accept=accept)
    except anchor.AnchorError as err:
        raise click.ClickException(str(err)) from err
    for verdict in result.refused:
        click.echo(("recorded anyway: " if accept else "not recorded: ") + verdict.describe(), err=True)
    where = f"line {result.line}" if result.line else "nothing new"
    click.echo(f"checkpoint: {result.chains} chain(s) recorded ({where}) in {result.path}")
    if result.refused and not accept:
        raise SystemExit(1)


@click.command("worker")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option(
    "--lane",
    type=click.Choice(["timers", "ledger", "all"]),
    default="all",
    show_default=True,
    help="timers: timers, reminders, digest; ledger: ledger checks and imports; all: both.",
)
@with_appcontext
def worker_cmd(interval: float, once: bool, lane: str) -> None:
    """Fire due timers, send reminders and the daily digest, check and import ledger files,
    every INTERVAL seconds (only the jobs of LANE)."""
    from webapp.deadlines import worker

    if once:
        report = worker.run_once(lane)
        parts = []
        if lane != worker.LEDGER:
            parts.append(
                f"fired {len(report.fired)}, failed {len(report.failed)}, reminders {report.reminders}, "
                f"digest {'sent' if report.digest else 'not due'}"
            )
        if lane != worker.TIMERS:
            parts.append(f"ledger batch {report.ledger_batch if report.ledger_batch else 'none'}")
        click.echo(", ".join(parts))
        return
    click.echo(f"worker running every {interval}s, {lane} lane; Ctrl-C to stop")
    worker.run_forever(interval, lane)


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_cmd(target: Path) -> None:
    """Copy the database to TARGET (SQLite: online backup API; PostgreSQL: pg_dump)."""
    from webapp import backup

    try:
        click.echo(backup.backup(get_engine(), target))
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from err


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
@click.pass_context
def restore_cmd(ctx: click.Context, source: Path, force: bool) -> None:
    """Replace the database with the backup SOURCE, then verify the history (exit 1 when a
    chain is broken). Stop the server and the workers first."""
    from webapp import backup

    with ctx.ensure_object(ScriptInfo).load_app().app_context():
        try:
            click.echo(backup.restore(get_engine(), source, force=force))
        except backup.BackupError as err:
            raise click.ClickException(str(err)) from err
    # in an app context of its own: nothing read before the restore is seen after it
    click.echo("audit verify:")
    try:
        ctx.invoke(audit_verify)
    except SystemExit:
        click.echo(
            "A chain checkpointed after the backup was made reads as truncated: if so, record the "
            "restored heads with `flask audit checkpoint --accept`.",
            err=True,
        )
        raise


@click.group("calendar", cls=AppGroup)
def calendar_cmd() -> None:
    """The working-day calendar (the database; webapp/data/holidays.toml is its seed)."""


@calendar_cmd.command("show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """Print a year's holidays, make-up working days and number of working days."""
    import datetime as dt

    from webapp.deadlines.calendar import load

    calendar = load()
    if year not in calendar.years:
        raise click.ClickException(
            f"{year} is not in the calendar yet: an administrator adds the State Council's notice "
            "on /admin/calendar (holidays.toml is only its seed)"
        )
    first = dt.date(year, 1, 1)
    days = [first + dt.timedelta(days=n) for n in range((dt.date(year + 1, 1, 1) - first).days)]
    holidays = sorted(d for d in calendar.holidays if d.year == year)
    workdays = sorted(d for d in calendar.workdays if d.year == year)
    click.echo(f"{year}: {sum(calendar.is_working_day(d) for d in days)} working days")
    click.echo("holidays: " + ", ".join(d.isoformat() for d in holidays))
    click.echo("make-up working days: " + ", ".join(d.isoformat() for d in workdays))
