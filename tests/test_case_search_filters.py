"""The case search's filters for the units taking part (issue 20): the debtor's identifier
(exact, through its digest, never in a URL), the bank, the stage, the amount reported and the
report dates."""

from __future__ import annotations

import re

from freezegun import freeze_time

from tests.support import confirm, credit_code, identity_number, report_payload
from webapp.models.cases import identifier_digest


def listed(page: str) -> list[int]:
    return sorted(int(n) for n in re.findall(r'href="/cases/(\d+)"', page))


def _loan(n: int, principal: int, interest: int = 0) -> list[dict[str, object]]:
    loan = {**report_payload(n)["loans"][0], "principal": principal, "interest": interest}
    return [loan]


def test_search_by_identifier_bank_stage_amount_and_dates(app, browser):
    icbc, abc, office = browser("bank_icbc"), browser("bank_abc"), browser("office")
    with freeze_time("2026-05-10 02:00:00"):  # 10:00 in Shanghai
        small = icbc.report(report_payload(1, loans=_loan(1, 100_000, 5_000)))
    with freeze_time("2026-05-20 15:30:00"):  # 23:30 in Shanghai: still the 20th there
        large = icbc.report(report_payload(2, loans=_loan(2, 2_000_000)))
    with freeze_time("2026-05-20 16:30:00"):  # 00:30 on the 21st in Shanghai
        person = abc.report(report_payload(3, kind="individual", loans=_loan(3, 500_000)))
        confirm(browser, person)

    def found(client, query: str) -> list[int]:
        response = client.get("/cases" + query)
        assert response.status_code == 200
        return listed(response.get_data(as_text=True))

    # by identifier: posted, then the list is filtered by the digest (no identifier in the URL)
    response = office.post("/cases/by-identifier", data={"identifier": identity_number(3)})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert identity_number(3) not in location and f"idh={identifier_digest(identity_number(3))}" in location
    assert found(office, location[location.index("?") :]) == [person]
    lowered = credit_code(2).lower()
    location = office.post("/cases/by-identifier", data={"identifier": f" {lowered} "}).headers["Location"]
    assert found(office, location[location.index("?") :]) == [large]
    bad = office.post("/cases/by-identifier", data={"identifier": "123"}, follow_redirects=True)
    assert "不是有效的居民身份证号码或统一社会信用代码" in bad.get_data(as_text=True)
    assert found(office, "?idh=nothex") == sorted([large, person, small])  # told it is not valid, ignored
    # a unit sees only its cases, whatever the filter
    idh = identifier_digest(identity_number(3))
    assert found(icbc, f"?idh={idh}") == [] and found(abc, f"?idh={idh}") == [person]

    assert found(office, "?bank=bank_icbc") == sorted([small, large])
    assert found(office, "?bank=bank_abc") == [person]
    assert found(office, "?stage=review") == sorted([small, large])
    assert found(office, f"?stage={_stage_of(app, person)}") == [person]
    # amount reported: principal and interest of the case's loans, bounds included
    assert found(office, "?amount_min=105000&amount_max=500000") == sorted([small, person])
    assert found(office, "?amount_min=105000.01") == sorted([large, person])
    assert found(office, "?amount_max=1,000,000") == sorted([small, person])
    assert "金额须为不小于 0 的元数" in office.get("/cases?amount_min=-1").get_data(as_text=True)
    # report dates are local (Asia/Shanghai) days, both ends included
    assert found(office, "?from=2026-05-11&to=2026-05-20") == [large]
    assert found(office, "?from=2026-05-21") == [person]
    assert found(office, "?to=2026-05-10") == [small]
    assert "日期格式为 YYYY-MM-DD" in office.get("/cases?from=2026-13-01").get_data(as_text=True)
    # filters combine, with the name too
    assert found(office, "?q=测试债务人&bank=bank_icbc&amount_min=1000000") == [large]
    assert found(office, f"?idh={identifier_digest(credit_code(1))}&stage=review&from=2026-05-10") == [small]


def _stage_of(app, case_id: int) -> str:
    from tests.support import case_row

    return case_row(app, case_id).stage


def test_debtors_imported_from_a_ledger_are_found_by_identifier(app, browser):
    """A ledger import writes debtors by COPY on PostgreSQL, which applies no column default:
    the digest is given with the row."""
    import io

    from tests.ledger_files import person_row, to_csv

    icbc = browser("bank_icbc")
    upload = icbc.post(
        "/ledger/",
        data={"file": (io.BytesIO(to_csv([person_row(41, "P-41"), person_row(42, "P-42")])), "l.csv")},
        content_type="multipart/form-data",
    )
    batch_id = int(upload.headers["Location"].rstrip("/").split("/")[-1])
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0  # the preview
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0  # the import
    location = icbc.post("/cases/by-identifier", data={"identifier": identity_number(42)}).headers["Location"]
    found = listed(icbc.get("/cases" + location[location.index("?") :]).get_data(as_text=True))
    assert len(found) == 1
    page = icbc.get(f"/cases/{found[0]}").get_data(as_text=True)
    assert "张42" in page


def test_the_migration_fills_the_digest_of_existing_debtors(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from tests.support import ROOT

    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = Config(str(ROOT / "alembic.ini"), toml_file=str(ROOT / "pyproject.toml"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0017")
    engine = create_engine(url)
    with engine.begin() as conn:
        for n, identifier in enumerate((credit_code(1), identity_number(2)), start=1):
            conn.execute(
                text(
                    "INSERT INTO debtors (id, kind, name, identifier, created_at)"
                    " VALUES (:i, 'x', 'n', :d, '2026-01-01')"
                ),
                {"i": n, "d": identifier},
            )
    command.upgrade(cfg, "0018")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT identifier, identifier_hash FROM debtors ORDER BY id")).all()
    engine.dispose()
    assert [h for _i, h in rows] == [identifier_digest(credit_code(1)), identifier_digest(identity_number(2))]
