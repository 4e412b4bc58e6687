"""Demo data: one user per unit and role, and a handful of cases at different stages, of
both processes: debt evasion (reported by banks) and judgment defaulters (listed by the court).

Cases are made through the same domain functions the pages call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc

from webapp import catalog as catalog_mod
from webapp.cases import closing, intake, repayments, settlement, steps
from webapp.catalog import Catalog
from webapp.deadlines.calendar import local_today
from webapp.defaulters import PROCESS as DEFAULTER_PROCESS
from webapp.defaulters.intake import record_listing
from webapp.models import Case, Task, User
from webapp.reference import create_user, load_units
from webapp.tasks import service
from webapp.transactions import atomic

OFFICE_ROLES = {
    "office": ["caseworker"],
    "supervisor": ["supervisor"],
    "auditor": ["auditor"],
    "admin": ["admin"],
}
# the names the office's demo people go by on the pages (the caseworkers are named after their unit)
OFFICE_NAMES = {"supervisor": "联动办 督办员", "auditor": "联动办 审计员", "admin": "联动办 系统管理员"}


def credit_code(seed: int) -> str:
    body = f"9134032{seed:010d}"
    return body + uscc.calc_check_digit(body)


def identity_number(seed: int) -> str:
    """A valid resident identity number of Huaiyuan county (340321), born 1985-1994."""
    body = f"340321{1985 + seed % 10}0{seed % 9 + 1}1{seed % 10}{seed % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # the function skips the last character


@dataclass(frozen=True)
class DemoPaths:
    forms_dir: str
    processes_dir: str


def load_users(session: Session, catalog: Catalog, password: str) -> list[User]:
    load_units(session, catalog)
    users = []
    for unit in catalog.units:
        if session.scalar(select(User).where(User.username == unit.code)) is None:
            users.append(
                create_user(session, unit.code, unit.code, ["caseworker"], password, f"{unit.zh} 经办人")
            )
    for username, roles in OFFICE_ROLES.items():
        if username != "office" and session.scalar(select(User).where(User.username == username)) is None:
            users.append(create_user(session, username, "office", roles, password, OFFICE_NAMES[username]))
    return users


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None  # noqa: S101 - created above
    return user


def _complete(
    session: Session, case: Case, element: str, username: str, data: dict[str, Any], paths: DemoPaths
) -> None:
    user = _user(session, username)
    task = session.scalar(
        select(Task).where(
            Task.case_id == case.id,
            Task.element_id == element,
            Task.unit_code == user.unit_code,
            Task.status == "open",
        )
    )
    assert task is not None, f"{element} not open on case {case.id}"  # noqa: S101
    atomic(session, lambda: service.complete(session, user, task.id, data, paths.forms_dir))


def _report(session: Session, bank: str, paths: DemoPaths, **debtor: Any) -> Case:
    user = _user(session, bank)
    result = atomic(
        session,
        lambda: intake.report_debtor(
            session, user, debtor, forms_dir=paths.forms_dir, processes_dir=paths.processes_dir
        ),
    )
    return result.case


def _loan(no: str, principal: float, days_overdue: int) -> dict[str, Any]:
    since = (dt.date.today() - dt.timedelta(days=days_overdue)).isoformat()
    return {
        "contract_no": no,
        "principal": principal,
        "interest": round(principal * 0.06, 2),
        "overdue_since": since,
        "guarantee": "保证担保",
    }


def load_cases(session: Session, paths: DemoPaths) -> list[int]:
    """Eight cases: at review, under a running deadline (blacklisted, not published), in joint
    sanction with public exposure (published), an official at the organisation talk, a
    rejected report, a settled, delisted debtor, a repayment plan half kept and a case closed
    without settlement (written off) whose sanction is being lifted."""
    enterprise = {
        "debtor_kind": "enterprise",
        "legal_representative": "张某",
        "actual_controller": "张某",
        "behaviour": "malicious_arrears",
        "evidence": "贷款逾期超过一年，企业仍正常经营。",
    }
    ids = []
    c1 = _report(
        session,
        "bank_icbc",
        paths,
        name="怀远县某某建材有限公司",
        identifier=credit_code(1),
        loans=[_loan("GH-2023-0101", 3_000_000, 400)],
        **enterprise,
    )
    ids.append(c1.id)

    c2 = _report(
        session,
        "bank_abc",
        paths,
        name="某某农业科技有限公司",
        identifier=credit_code(2),
        loans=[_loan("NH-2022-0033", 1_200_000, 500)],
        **{**enterprise, "behaviour": "asset_transfer"},
    )
    _complete(
        session, c2, "review", "office", {"review_decision": "confirm", "classification": "evasion"}, paths
    )
    _complete(
        session,
        c2,
        "interview",
        "office",
        {
            "interview_date": dt.date.today().isoformat(),
            "attendees": "小组办公室、农业银行",
            "rectification_days": 30,
            "commitments": "三十日内制定还款计划。",
        },
        paths,
    )
    _report(
        session,
        "bank_rcb",
        paths,
        name="某某农业科技有限公司",
        identifier=credit_code(2),
        loans=[_loan("NS-2023-0456", 800_000, 300)],
        **{**enterprise, "behaviour": "asset_transfer"},
    )
    # rectification progress: part of the agricultural bank's loan paid back (not settled)
    abc = _user(session, "bank_abc")
    atomic(
        session,
        lambda: repayments.record_repayment(
            session, abc, c2, "NH-2022-0033", "150000.00", local_today(), "债务人约谈后首笔还款。"
        ),
    )
    ids.append(c2.id)

    c3 = _report(
        session,
        "bank_rcb",
        paths,
        name="某某纺织有限公司",
        identifier=credit_code(3),
        loans=[_loan("NS-2021-0077", 5_600_000, 800)],
        **{**enterprise, "behaviour": "collateral_disposal"},
    )
    _complete(
        session, c3, "review", "office", {"review_decision": "confirm", "classification": "evasion"}, paths
    )
    _complete(
        session,
        c3,
        "interview",
        "office",
        {
            "interview_date": dt.date.today().isoformat(),
            "attendees": "小组办公室、农商行",
            "rectification_days": 15,
        },
        paths,
    )
    atomic(
        session,
        lambda: steps.fire_timers(session, steps.lock_case(session, c3.id), expire=True, reason="demo data"),
    )
    # the deadline passed unmet: the office assesses the rectification and sanctions in full
    _complete(
        session,
        c3,
        "assess_rectification",
        "office",
        {"assessment": "full", "assessment_notes": "整改期内未还款，也未提出还款计划。"},
        paths,
    )
    _complete(
        session,
        c3,
        "apply_sanction",
        "court",
        {"measures": ["restrict_high_consumption", "exit_ban"], "document_no": "(2026)皖0321执123号"},
        paths,
    )
    # exposure is a sanction: from now on the debtor is on the published list
    _complete(session, c3, "apply_sanction", "publicity", {"measures": ["expose_media", "expose_led"]}, paths)
    ids.append(c3.id)

    c4 = _report(
        session,
        "bank_icbc",
        paths,
        name="李某",
        identifier=identity_number(4),
        debtor_kind="official",
        employer_unit="employer_education",
        position="科员",
        behaviour="official_arrears",
        loans=[_loan("GH-2020-0909", 150_000, 200)],
    )
    _complete(
        session,
        c4,
        "review",
        "office",
        {"review_decision": "confirm", "classification": "official_talk"},
        paths,
    )
    ids.append(c4.id)

    c5 = _report(
        session,
        "bank_abc",
        paths,
        name="王某",
        identifier=identity_number(5),
        debtor_kind="individual",
        behaviour="other",
        loans=[_loan("NH-2024-0500", 50_000, 100)],
    )
    _complete(
        session,
        c5,
        "review",
        "office",
        {"review_decision": "reject", "reject_reason": "已与银行达成展期协议，不属于逃废债。"},
        paths,
    )
    ids.append(c5.id)

    c6 = _report(
        session,
        "bank_icbc",
        paths,
        name="某某商贸有限公司",
        identifier=credit_code(6),
        loans=[_loan("GH-2022-0606", 900_000, 450)],
        **enterprise,
    )
    _complete(
        session, c6, "review", "office", {"review_decision": "confirm", "classification": "evasion"}, paths
    )
    bank = _user(session, "bank_icbc")
    atomic(
        session,
        lambda: settlement.report_settlement(session, bank, steps.lock_case(session, c6.id), "JQ-2026-0606"),
    )
    _complete(session, c6, "verify_settlement", "office", {"certificate_decision": "verified"}, paths)
    ids.append(c6.id)

    # temporary difficulty: the bank and the debtor agreed a repayment plan, the first
    # instalment is paid and the second awaits the bank's confirmation on its date
    c7 = _report(
        session,
        "bank_abc",
        paths,
        name="某某食品有限公司",
        identifier=credit_code(7),
        loans=[_loan("NH-2023-0707", 600_000, 250)],
        **{**enterprise, "behaviour": "other"},
    )
    _complete(
        session,
        c7,
        "review",
        "office",
        {"review_decision": "confirm", "classification": "negotiation"},
        paths,
    )
    today = local_today()
    plan = [{"due_on": (today + dt.timedelta(days=30 * k)).isoformat(), "amount": 200_000} for k in range(3)]
    _complete(
        session,
        c7,
        "negotiation",
        "bank_abc",
        {"negotiation_outcome": "agreement", "instalments": plan, "negotiation_notes": "分三期归还。"},
        paths,
    )
    _complete(
        session,
        c7,
        "confirm_instalment",
        "bank_abc",
        {"instalment_status": "paid", "paid_amount": 200_000, "paid_on": today.isoformat()},
        paths,
    )
    ids.append(c7.id)

    # the bank wrote the loan off: the office closed the case without settlement, and the
    # court, which had restricted the debtor, is asked to lift its measures
    c8 = _report(
        session,
        "bank_icbc",
        paths,
        name="某某化工有限公司",
        identifier=credit_code(8),
        loans=[_loan("GH-2019-0808", 2_000_000, 1500)],
        **enterprise,
    )
    _complete(
        session, c8, "review", "office", {"review_decision": "confirm", "classification": "evasion"}, paths
    )
    _complete(
        session,
        c8,
        "interview",
        "office",
        {"interview_date": today.isoformat(), "attendees": "小组办公室、工商银行", "rectification_days": 10},
        paths,
    )
    atomic(
        session,
        lambda: steps.fire_timers(session, steps.lock_case(session, c8.id), expire=True, reason="demo data"),
    )
    _complete(session, c8, "assess_rectification", "office", {"assessment": "full"}, paths)
    _complete(session, c8, "apply_sanction", "court", {"measures": ["restrict_high_consumption"]}, paths)
    office = _user(session, "office")
    atomic(
        session,
        lambda: closing.close_case(
            session,
            office,
            c8,
            {
                "closing_reason": "written_off",
                "bank_confirmation_no": "工银核〔2026〕8号",
                "closing_notes": "企业已停业多年，银行按规定核销。",
            },
            paths.forms_dir,
        ),
    )
    ids.append(c8.id)
    ids.extend(load_defaulters(session, paths))
    return ids


def _list(session: Session, n: int, paths: DemoPaths, **data: Any) -> Case:
    """The court lists a judgment defaulter in enforcement case number ``n``."""
    court = _user(session, "court")
    listing = {
        "enforcement_no": f"（2026）皖0321执{n}号",
        "debtor_kind": "enterprise",
        "legal_representative": "赵某",
        "duty": "支付货款及迟延履行期间的债务利息",
        "listed_on": (local_today() - dt.timedelta(days=n % 30)).isoformat(),
        **data,
    }
    return atomic(session, lambda: record_listing(session, court, listing, processes_dir=paths.processes_dir))


def _restrict(session: Session, case: Case, units: list[str], paths: DemoPaths) -> None:
    """Each of ``units`` applies the first restriction of its field (publicity: media exposure)."""
    spec = catalog_mod.load(paths.processes_dir).process(DEFAULTER_PROCESS)
    for unit in units:
        measures = [spec.measures[unit][0].code]
        data = {"measures": measures, "document_no": f"{unit}〔2026〕{case.id}号"}
        _complete(session, case, "apply_restriction", unit, data, paths)


def load_defaulters(session: Session, paths: DemoPaths) -> list[int]:
    """Five judgment defaulters the court listed (seed 004): one just listed (every unit's
    restriction task open), one restricted by every unit including publicity's media exposure
    (on the public list), one referred to the police for refusal to execute with the police's
    written answer given, one whose judgment was fulfilled with every restriction lifted, and
    one who also stands on the demo's debt case in joint sanction (linked, not merged)."""
    ids = []
    d1 = _list(
        session,
        101,
        paths,
        name="怀远县某某建筑工程有限公司",
        identifier=credit_code(101),
        amount_owed=860_000,
    )
    ids.append(d1.id)

    d2 = _list(
        session, 102, paths, name="某某物流有限公司", identifier=credit_code(102), amount_owed=2_350_000
    )
    spec = catalog_mod.load(paths.processes_dir).process(DEFAULTER_PROCESS)
    _restrict(session, d2, spec.sanctioning_units(), paths)
    ids.append(d2.id)

    d3 = _list(
        session,
        103,
        paths,
        name="孙某",
        debtor_kind="individual",
        identifier=identity_number(103),
        legal_representative=None,
        amount_owed=420_000,
    )
    _restrict(session, d3, ["market", "land_housing", "regulator"], paths)
    _complete(
        session,
        d3,
        "refer_refusal",
        "court",
        {
            "refer_decision": "refer",
            "refusal_facts": "有履行能力而隐匿、转移财产，拒不履行生效判决。",
            "referral_document_no": "（2026）皖0321执103号之一",
        },
        paths,
    )
    _complete(
        session,
        d3,
        "police_filing",
        "police",
        {
            "filing_result": "filed",
            "filing_document_no": "怀公（刑）立字〔2026〕103号",
            "filing_date": local_today().isoformat(),
            "filing_reasons": "涉嫌拒不执行判决、裁定罪，决定立案侦查。",
        },
        paths,
    )
    ids.append(d3.id)

    d4 = _list(session, 104, paths, name="某某装饰有限公司", identifier=credit_code(104), amount_owed=150_000)
    _restrict(session, d4, ["market", "publicity"], paths)
    _complete(
        session,
        d4,
        "record_exit",
        "court",
        {
            "exit_reason": "fulfilled",
            "exit_document_no": "（2026）皖0321执104号之二",
            "exit_date": local_today().isoformat(),
            "exit_notes": "被执行人已全部履行。",
        },
        paths,
    )
    for unit in ("market", "publicity"):
        _complete(session, d4, "lift_restriction", unit, {"lift_confirmed": True}, paths)
    ids.append(d4.id)

    # the textile company of the debt case in joint sanction (credit code 3) is also a defaulter
    d5 = _list(session, 105, paths, name="某某纺织有限公司", identifier=credit_code(3), amount_owed=1_280_000)
    ids.append(d5.id)
    return ids
