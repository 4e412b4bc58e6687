"""``flask backup`` and ``flask restore`` on both databases: a backup, a change, a restore
that brings the data back and verifies the history; a non-empty database is kept unless
``--force``; a broken chain in the backup is reported with exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tests.support import report_payload
from webapp.models import Case, CaseEvent


def _needs_tools(app) -> None:
    if app.config["BACKEND"] == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not on PATH: the PostgreSQL backup cannot be tested here")


def _flask(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _case_ids(app) -> list[int]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(session.scalars(select(Case.id).order_by(Case.id)))


def test_backup_change_restore_brings_the_data_back(app, browser, tmp_path: Path):
    _needs_tools(app)
    bank = browser("bank_icbc")
    kept = bank.report(report_payload(1))
    target = tmp_path / "nightly" / "liandong.backup"
    result = _flask(app, "backup", str(target))
    assert result.exit_code == 0, result.output
    assert target.is_file() and "backed up" in result.output

    later = bank.report(report_payload(2))  # after the backup: gone after the restore
    assert _case_ids(app) == [kept, later]

    refused = _flask(app, "restore", str(target))
    assert refused.exit_code == 1 and "not empty" in refused.output and "--force" in refused.output
    assert _case_ids(app) == [kept, later]  # refused: nothing changed

    result = _flask(app, "restore", "--force", str(target))
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "0 altered" in result.output
    assert _case_ids(app) == [kept]
    # the restored database works on: a new report, a page
    again = bank.report(report_payload(3))
    assert again > kept and bank.get(f"/cases/{kept}").status_code == 200


def test_a_restore_reports_a_broken_chain(app, browser, tmp_path: Path):
    _needs_tools(app)
    case_id = browser("bank_icbc").report(report_payload(4))
    with app.extensions["db_sessionmaker"]() as session:
        first = session.scalar(select(func.min(CaseEvent.id)).where(CaseEvent.case_id == case_id))
        session.execute(update(CaseEvent).where(CaseEvent.id == first).values(data={"tampered": True}))
        session.commit()
    target = tmp_path / "tampered.backup"
    assert _flask(app, "backup", str(target)).exit_code == 0
    result = _flask(app, "restore", "--force", str(target))
    assert result.exit_code == 1
    assert "restored" in result.output and f"event id {first}" in result.output


def test_restore_into_an_empty_database_needs_no_force(app, browser, tmp_path: Path):
    _needs_tools(app)
    case_id = browser("bank_icbc").report(report_payload(5))
    target = tmp_path / "b"
    assert _flask(app, "backup", str(target)).exit_code == 0
    from tests.support import clear_database

    clear_database(app)
    result = _flask(app, "restore", str(target))
    assert result.exit_code == 0, result.output
    assert _case_ids(app) == [case_id]


def test_a_file_that_is_no_backup_is_refused(app, tmp_path: Path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a backup")
    result = _flask(app, "restore", str(bogus))
    assert result.exit_code == 1 and "is not a" in result.output and "backup" in result.output
    assert "no backup file" in _flask(app, "restore", str(tmp_path / "missing")).output


def test_without_pg_dump_the_error_says_so(pg_url, tmp_path: Path, monkeypatch):
    from webapp import create_app

    app = create_app({"DATABASE_URL": pg_url, "SECRET_KEY": "x", "UPLOAD_DIR": str(tmp_path)})
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump there
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "b")])
    app.extensions["db_engine"].dispose()
    assert result.exit_code == 1
    assert "pg_dump is not on PATH" in result.output and not (tmp_path / "b").exists()


def test_a_backup_older_than_the_checkpoint_reads_as_truncated(app, browser, tmp_path: Path):
    _needs_tools(app)
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(6))
    target = tmp_path / "older.backup"
    assert _flask(app, "backup", str(target)).exit_code == 0
    browser("office").complete(case_id, "review", review_decision="confirm", classification="evasion")
    assert _flask(app, "audit", "checkpoint").exit_code == 0  # the worker's checkpoint, after the backup

    result = _flask(app, "restore", "--force", str(target))
    assert result.exit_code == 1
    assert f"case:{case_id}" in result.output and "truncated" in result.output
    assert "audit checkpoint --accept" in result.output
