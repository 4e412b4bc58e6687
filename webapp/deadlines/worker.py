"""The background worker: fires due BPMN timers, sends reminders and the daily digest, and
checks and imports ledger files (one batch per pass).

Run beside the web server (``flask worker``; ``make run`` starts one). The work comes in two
lanes, so that a long ledger import (a minute or two for 100,000 rows) never holds a
deadline back: ``--lane timers`` (timers, reminders, digest), ``--lane ledger`` (ledger checks
and imports) and ``--lane all`` (both in one loop, for development). ``make serve`` runs one
process per lane. Several workers may run at once, in any lanes: a case fires under its row
lock with a re-check of its deadline, reminders are claimed by conditional updates and
messages carry unique dedupe keys. After downtime the first pass fires everything that fell
due meanwhile. A timer whose step fails is tried
again after a backoff, not at every pass (``webapp.cases.timers.TIMER_BACKOFF``).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from types import FrameType

from flask import current_app

from webapp.audit import anchor
from webapp.bulletins import schedule as bulletin_schedule
from webapp.cases import timers
from webapp.clock import now
from webapp.db import get_session
from webapp.deadlines import calendar as work_calendar
from webapp.deadlines import reminders
from webapp.errors import Conflict
from webapp.ledger import importer as ledger_importer
from webapp.ledger import jobs as ledger_jobs
from webapp.ledger.settings import LedgerSettings
from webapp.notifications import mailer
from webapp.stats import rollups, totals
from webapp.transactions import atomic

TIMERS, LEDGER, ALL = "timers", "ledger", "all"
LEDGER_NICENESS = 10
LANES = (TIMERS, LEDGER, ALL)


@dataclass
class PassReport:
    fired: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    reminders: int = 0
    digest: bool = False
    ledger_batch: int | None = None


def run_once(lane: str = ALL) -> PassReport:
    """One pass of the lane's jobs (``timers``, ``ledger`` or ``all``)."""
    if lane not in LANES:
        raise ValueError(f"unknown worker lane {lane!r}; one of {', '.join(LANES)}")
    session = get_session()
    report = PassReport()
    if lane in (TIMERS, ALL):
        fire = timers.fire_due(session)
        report.fired, report.failed = fire.fired, fire.failed
        at = now()
        try:
            report.reminders = atomic(session, lambda: reminders.send_due_reminders(session, at))
        except Conflict:  # another worker claimed the same reminders at the same moment
            report.reminders = 0
        try:
            report.digest = atomic(session, lambda: reminders.send_daily_digest(session, at))
        except Conflict:  # another worker sent today's digest (unique dedupe key)
            report.digest = False
        # the ended week's, month's and quarter's bulletins, once each (unique period key)
        bulletin_schedule.make_due(session, now(), current_app.config)
        work_calendar.upkeep(current_app.logger)  # the calendar's next year: warn daily, recompute
        anchor.checkpoint_if_due(session, current_app.config, current_app.logger)  # audit checkpoints
        # queued e-mails and the users' daily digests (never raises)
        mail = mailer.SmtpSettings.from_config(current_app.config)
        mailer.run_jobs(session, mail, now(), current_app.logger)
        # the assessment's closed local days, each folded once into the daily rollups; the
        # cases changed since the last pass, into the statistics' totals
        rollups.fold_due(session, now())
        totals.fold_due(session, now())
    if lane in (LEDGER, ALL):
        report.ledger_batch = ledger_jobs.run_next(session, LedgerSettings.from_config(current_app.config))
    return report


def run_forever(interval: float = 1.0, lane: str = ALL) -> None:
    """Passes every ``interval`` seconds until SIGTERM or SIGINT. The timers lane finishes its
    pass first. A lane that runs ledger jobs lets a running import finish its chunk (a fraction
    of a second) and queues the batch again, so the next worker resumes it at once; any other
    job, or a second signal, is cut off at once, which is safe: jobs commit chunk by chunk, and
    once a job's progress is older than ``LEDGER_STALE_SECONDS`` it is run again (a check
    starts over, a discard goes on)."""
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        again, stopping = stopping, True
        # an import stops after its chunk (and is queued again); any other ledger job, or a
        # second signal, stops the lane at once
        if lane != TIMERS and (again or not ledger_importer.pause()):
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if lane == LEDGER:
        # an import keeps a core busy for minutes: the web server's requests come first
        os.nice(LEDGER_NICENESS)
    log = current_app.logger
    while not stopping:
        started = time.monotonic()
        try:
            report = run_once(lane)
            if report.fired or report.failed or report.reminders or report.digest:
                log.warning(
                    "worker: fired %s, failed %s, reminders %s, digest %s",
                    report.fired,
                    report.failed,
                    report.reminders,
                    report.digest,
                )
        except Exception:  # keep the worker alive; the error is logged and retried next pass
            log.exception("worker pass failed")
            get_session().rollback()
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
