# ruff: noqa: S608 - the generator SQL is built from this file's constants, never from input
"""Scenario 3: the read queries with a million cases in PostgreSQL.

Generates 1,000,000 cases (debtors, tasks, case participants, units and users, and for the
statistics of ``bench/million_stats.py`` loans, repayments, sanctions with their measures, the
history's events and the supervisors' reminders, over three years, each table's rows in the
order the app writes them) into a database of its own with set-based SQL
(``INSERT ... SELECT generate_series``), then times
the app's own query functions, each with a fresh session as a request has:

- a unit's inbox, first page (oldest first, newest first, soonest due first, overdue only);
- the supervisors' overdue list (all units, one unit) and their dashboard;
- the case list searched by debtor name (office and a bank, with and without a status).

and writes p50/p95 and the ``EXPLAIN (ANALYZE, BUFFERS)`` plan of each query to
docs/PERFORMANCE.md.

    .venv/bin/python bench/million.py [--cases 1000000] [--runs 200] [--regenerate]

The database (``LIANDONG_BENCH_PG_URL``, default ``liandong_bench`` on the machine's
PostgreSQL) is kept between runs: it is generated again only when it holds fewer cases than
asked or with ``--regenerate``. Alembic migrates it to head on every run, so new indexes
are picked up without regenerating.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.conftest import migrate  # noqa: E402
from tests.support import Browser, report_payload, seed_users  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.cases import queries  # noqa: E402
from webapp.db import Base  # noqa: E402
from webapp.models import Case, Task, User  # noqa: E402
from webapp.supervision import service as supervision  # noqa: E402
from webapp.tasks import service as tasks  # noqa: E402

URL = os.environ.get("LIANDONG_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/liandong_bench")
# the catalogue has 3 banks and 2 employers; a province has more: 40 units in all
EXTRA_BANKS = [f"bank_b{i:02d}" for i in range(1, 11)]
EXTRA_EMPLOYERS = [f"employer_e{i:02d}" for i in range(1, 6)]
BANKS = ["bank_icbc", "bank_abc", "bank_rcb", *EXTRA_BANKS]
EMPLOYERS = ["employer_education", "employer_health", *EXTRA_EMPLOYERS]
SANCTION_DEPTS = ["court", "ndrc", "market", "land_housing", "finance", "publicity", "tax", "regulator"]

# open cases by stage: cumulative upper bounds of a uniform draw (20% of cases are open)
OPEN_STAGES = [
    ("review", 0.22),
    ("negotiation", 0.30),
    ("interview", 0.35),
    ("rectification", 0.55),
    ("sanction", 0.80),
    ("referral_decision", 0.85),
    ("referral", 0.90),
    ("monitoring", 0.94),
    ("official_talk", 0.97),
    ("delisting", 1.00),
]
STAGE_ACTIVE = {
    "review": "review",
    "negotiation": "negotiation",
    "interview": "interview",
    "rectification": "rectification_deadline",
    "sanction": "apply_sanction",
    "referral_decision": "decide_referral",
    "referral": "answer_referral",
    "monitoring": "monitoring_timer",
    "official_talk": "official_talk",
    "delisting": "verify_settlement",
}


# the cases that went past their rectification deadline (to sanctions and beyond)
PAST_RECTIFICATION = (
    "(c.stage IN ('sanction', 'referral_decision', 'referral', 'monitoring', 'delisting') "
    "OR c.outcome = 'delisted')"
)
# webapp.models.cases.identifier_digest in SQL
IDENTIFIER_PREFIX = "liandong:debtor-identifier:"


def _unit_measures() -> str:
    """(unit code, its measure codes) as SQL rows: every bank applies the creditor banks' ones."""
    with (ROOT / "webapp" / "data" / "sanctions.toml").open("rb") as fh:
        catalogue = {s["unit"]: [m["code"] for m in s["measures"]] for s in tomllib.load(fh)["sanction"]}
    rows = [(bank, catalogue["creditor_bank"]) for bank in BANKS]
    rows += [(unit, codes) for unit, codes in catalogue.items() if unit != "creditor_bank"]
    return ", ".join(f"('{unit}', {_sql_array(codes)})" for unit, codes in rows)


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _stage_case() -> str:
    parts = " ".join(f"WHEN r_stage < {bound} THEN '{stage}'" for stage, bound in OPEN_STAGES)
    return f"CASE {parts} END"


def _active_case() -> str:
    parts = " ".join(
        f'WHEN \'{stage}\' THEN \'["case_body", "{element}", "settled"]\''
        for stage, element in STAGE_ACTIVE.items()
    )
    return f"CASE stage {parts} ELSE '[]' END"


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉金海波春晓梅林斌宇浩凯鹏飞云峰鑫龙婷雪琳晨阳欣怡子涵梓轩博文雨泽佳琪思远天宏永康德胜安和顺"  # noqa: E501
PLACES = ["城关", "东湖", "西山", "南岭", "北塘", "青石", "金桥", "白沙", "红星", "永安", "长乐", "新华"]
TRADES = ["科技", "贸易", "建设", "置业", "实业", "物流", "农业", "化工", "纺织", "食品", "机械", "能源"]


def generate(engine: Engine, cases: int) -> None:
    """Every table filled with set-based SQL; about 5 million tasks for a million cases."""
    surnames, given = _sql_array(list(SURNAMES)), _sql_array(list(GIVEN))
    places, trades = _sql_array(PLACES), _sql_array(TRADES)
    banks, employers, depts = _sql_array(BANKS), _sql_array(EMPLOYERS), _sql_array(SANCTION_DEPTS)
    steps = [
        ("plan", "SELECT setseed(0.42)"),
        (
            "plan",
            f"""
            CREATE UNLOGGED TABLE bench_plan AS
            SELECT x.*, ({banks})[1 + (n % {len(BANKS)})] AS bank
            FROM (
                -- numbered in the order of their report, as the app's ids and rows come
                SELECT (row_number() OVER (ORDER BY created) + 1)::int AS n, r.*, created
                FROM (SELECT random() AS r_open, random() AS r_stage, random() AS r_kind,
                             random() AS r_age, random() AS r_name, random() AS r_due, random() AS r_out
                      FROM generate_series(2, {cases + 1})) AS r
                CROSS JOIN LATERAL (
                    SELECT now() - interval '1 day' * (CASE WHEN r.r_open < 0.2 THEN 365 * r.r_age * r.r_age
                                                            ELSE 30 + 1000 * r.r_age END) AS created
                ) AS t
            ) AS x
            """,
        ),
        (
            "debtors",
            f"""
            INSERT INTO debtors (id, kind, name, identifier, identifier_hash, legal_representative,
                                 employer_unit_code, created_at)
            SELECT n,
                   CASE WHEN r_kind < 0.60 THEN 'enterprise' WHEN r_kind < 0.65 THEN 'organisation'
                        WHEN r_kind < 0.95 THEN 'individual' ELSE 'official' END,
                   CASE WHEN r_kind < 0.65 THEN
                          ({places})[1 + (n / 7) % {len(PLACES)}]
                          || ({given})[1 + (n / 3) % {len(GIVEN)}] || ({given})[1 + (n / 11) % {len(GIVEN)}]
                          || ({trades})[1 + n % {len(TRADES)}] || '有限公司'
                        ELSE ({surnames})[1 + n % {len(SURNAMES)}]
                          || ({given})[1 + (n / 5) % {len(GIVEN)}]
                          || CASE WHEN r_name < 0.7 THEN ({given})[1 + (n / 13) % {len(GIVEN)}] ELSE '' END
                   END,
                   'B' || lpad(n::text, 17, '0'),
                   encode(sha256(convert_to('{IDENTIFIER_PREFIX}B' || lpad(n::text, 17, '0'), 'UTF8')),
                          'hex'),
                   CASE WHEN r_kind < 0.65 THEN '张三' END,
                   CASE WHEN r_kind >= 0.95 THEN ({employers})[1 + n % {len(EMPLOYERS)}] END,
                   created
            FROM bench_plan ORDER BY n
            """,
        ),
        (
            "cases",
            f"""
            INSERT INTO cases (id, debtor_id, debtor_name, open_debtor_id, process_version_id,
                               creditor_unit_code, status,
                               stage, outcome, blacklisted, blacklisted_at, delisted_at, state,
                               active_elements, completed_elements,
                               next_timer_at, created_at, updated_at, closed_at, version)
            SELECT n, n, name, CASE WHEN status = 'open' THEN n END, (SELECT min(id) FROM process_versions),
                   bank,
                   status, stage,
                   outcome,
                   stage NOT IN ('review', 'negotiation', 'closed'),
                   -- confirmed at review (within 12 days), for the cases past review and not
                   -- rejected or settled at negotiation; delisted when closed as delisted
                   CASE WHEN stage NOT IN ('review', 'negotiation', 'closed') OR outcome = 'delisted'
                        THEN created_at + least(interval '12 days', (now() - created_at) / 2) END,
                   CASE WHEN outcome = 'delisted' THEN closed_at END,
                   (SELECT state FROM cases WHERE id = 1),
                   ({_active_case()})::json, '[]'::json,
                   CASE WHEN stage IN ('rectification', 'monitoring')
                        THEN created_at + interval '1 day' * (20 + 40 * r_due) END,
                   created_at, created_at + (now() - created_at) * r_due,
                   closed_at,
                   3
            FROM (SELECT y.*,
                         CASE WHEN status = 'closed' THEN
                           CASE WHEN r_out < 0.5 THEN 'delisted' WHEN r_out < 0.8 THEN 'rejected'
                                ELSE 'agreement' END END AS outcome,
                         -- closed 20 to 200 days after the report (never in the future)
                         CASE WHEN status = 'closed' THEN
                           least(created_at + interval '1 day' * (20 + 180 * r_due * r_due),
                                 now() - interval '1 hour') END AS closed_at
                  FROM (SELECT p.*, d.created_at, d.name,
                               CASE WHEN r_open < 0.2 THEN 'open' ELSE 'closed' END AS status,
                               CASE WHEN r_open < 0.2 THEN {_stage_case()} ELSE 'closed' END AS stage
                        FROM bench_plan p JOIN debtors d ON d.id = p.n) AS y) AS x
            ORDER BY n
            """,
        ),
        ("tasks", "SELECT setseed(0.43)"),
        (
            "tasks",
            # one row per (case, step): which steps a case went through follows its stage or outcome;
            # ``k`` numbers the sanction units (creditor bank + 6 of the 8 departments)
            f"""
            INSERT INTO tasks (id, case_id, element_id, title, lane, unit_code, form, status, created_at,
                               due_at, completed_at, context)
            SELECT md5(c.id || '-' || s.element || '-' || s.k)::uuid::text, c.id, s.element,
                   s.element, s.lane,
                   CASE s.lane WHEN 'office' THEN 'office' WHEN 'creditor_bank' THEN c.creditor_unit_code
                        WHEN 'sanction_unit' THEN
                          CASE WHEN s.k = 0 THEN c.creditor_unit_code
                               ELSE ({depts})[1 + (c.id + s.k) % {len(SANCTION_DEPTS)}] END
                        WHEN 'referral_unit' THEN (ARRAY['court', 'police', 'discipline'])[1 + c.id % 3]
                        WHEN 'employer' THEN ({employers})[1 + c.id % {len(EMPLOYERS)}] END,
                   s.element || '.json', st.status, st.created_at,
                   st.created_at + interval '15 days',
                   -- done in 1 to 21 days: about one in six after its due time
                   CASE WHEN st.status = 'completed'
                        THEN least(st.created_at + interval '1 day' * (1 + 20 * st.r * st.r),
                                   now() - interval '1 minute') END,
                   '{{}}'::json
            FROM cases c
            CROSS JOIN LATERAL (VALUES
                ('review', 'office', 0, c.stage <> 'review', c.stage = 'review'),
                ('negotiation', 'creditor_bank', 0, c.outcome = 'agreement', c.stage = 'negotiation'),
                ('interview', 'office', 0,
                   c.stage NOT IN ('review', 'negotiation', 'interview', 'official_talk')
                   AND coalesce(c.outcome, 'delisted') = 'delisted', c.stage = 'interview'),
                ('official_talk', 'employer', 0, false, c.stage = 'official_talk'),
                ('decide_referral', 'office', 0, c.stage IN ('referral', 'monitoring'),
                   c.stage = 'referral_decision'),
                ('answer_referral', 'referral_unit', 0, false, c.stage = 'referral'),
                ('verify_settlement', 'office', 0, c.outcome = 'delisted', c.stage = 'delisting'),
                -- a passed rectification deadline opens the assessment (three stops for an
                -- official's case) for most of the cases that went on to sanctions
                ('assess_rectification', 'office', 0, c.id % 10 < 7 AND {PAST_RECTIFICATION}, false),
                ('three_stops', 'office', 0, c.id % 10 = 7 AND {PAST_RECTIFICATION}, false),
                -- referrals answered: the cases in monitoring and a fifth of the delisted ones;
                -- one in fifteen of the delisted also went to court
                ('answer_referral', 'referral_unit', 1,
                   c.stage = 'monitoring' OR (c.outcome = 'delisted' AND c.id % 5 = 0), false),
                ('court_judgment', 'referral_unit', 0, c.outcome = 'delisted' AND c.id % 15 = 0, false)
            ) AS s(element, lane, k, done, open)
            CROSS JOIN LATERAL (
                SELECT CASE WHEN s.open THEN 'open' ELSE 'completed' END AS status, random() AS r,
                       CASE WHEN s.open
                            THEN now() - interval '1 day' * (8 + 15 * random()) * random() * 2
                            ELSE c.created_at + interval '1 day' * 10 * random() END AS created_at
            ) AS st
            WHERE s.done OR s.open
            ORDER BY st.created_at  -- rows in the order the app writes them
            """,
        ),
        (
            "tasks",
            # parallel sanction and lifting tasks: 7 units each
            f"""
            INSERT INTO tasks (id, case_id, element_id, title, lane, unit_code, form, status, created_at,
                               due_at, completed_at, context)
            SELECT md5(c.id || '-' || e.element || '-' || k)::uuid::text, c.id, e.element, e.element,
                   e.lane,
                   CASE WHEN k = 0 THEN c.creditor_unit_code
                        ELSE ({depts})[1 + (c.id + k) % {len(SANCTION_DEPTS)}] END,
                   e.element || '.json', st.status, st.created_at, st.created_at + interval '15 days',
                   CASE WHEN st.status = 'completed'
                        THEN least(st.created_at + interval '1 day' * (1 + 20 * st.r * st.r),
                                   now() - interval '1 minute') END,
                   '{{}}'::json
            FROM cases c
            CROSS JOIN generate_series(0, 6) AS k
            CROSS JOIN (VALUES ('apply_sanction', 'sanction_unit'), ('lift_sanction', 'lift_unit'))
                 AS e(element, lane)
            CROSS JOIN LATERAL (
                SELECT CASE WHEN c.stage = 'sanction' AND e.element = 'apply_sanction' AND random() < 0.6
                            THEN 'open' ELSE 'completed' END AS status, random() AS r,
                       CASE WHEN c.stage = 'sanction' AND e.element = 'apply_sanction'
                            THEN now() - interval '1 day' * 40 * random() * random()
                            WHEN e.element = 'lift_sanction'
                            THEN c.delisted_at - interval '1 day' * 3 * random()
                            ELSE c.created_at + least(interval '1 day' * (13 + 5 * random()),
                                                      (now() - c.created_at) * 0.6) END AS created_at
            ) AS st
            WHERE (e.element = 'apply_sanction'
                   AND (c.stage IN ('sanction', 'referral_decision', 'referral', 'monitoring', 'delisting')
                        OR c.outcome = 'delisted'))
               OR (e.element = 'lift_sanction' AND c.outcome = 'delisted')
            ORDER BY st.created_at
            """,
        ),
        (
            "participants",
            """
            INSERT INTO case_participants (case_id, unit_code, since)
            SELECT case_id, unit_code, min(created_at) FROM tasks
            WHERE case_id > 1 GROUP BY case_id, unit_code
            UNION ALL
            SELECT c.id, c.creditor_unit_code, c.created_at FROM cases c
            WHERE c.id > 1 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = c.id
                              AND t.unit_code = c.creditor_unit_code)
            """,
        ),
        ("loans", "SELECT setseed(0.44)"),
        (
            "loans",
            # one loan a case, two for one case in four; settled when the case was delisted or
            # settled at negotiation
            """
            INSERT INTO loans (case_id, bank_unit_code, contract_no, principal, interest, overdue_since,
                               behaviour, reported_at, settled_at)
            SELECT c.id, c.creditor_unit_code, 'C' || c.id || '-' || j, x.principal,
                   round(x.principal * 0.08, 2), (c.created_at - interval '400 days')::date, 'overdue',
                   c.created_at,
                   CASE WHEN c.outcome IN ('delisted', 'agreement') THEN c.closed_at - interval '1 day' END
            FROM cases c
            CROSS JOIN LATERAL generate_series(1, CASE WHEN c.id % 4 = 0 THEN 2 ELSE 1 END) AS j
            CROSS JOIN LATERAL (SELECT round((20000 + 3000000 * random() ^ 3)::numeric, 2) AS principal
                                WHERE j > 0) AS x
            WHERE c.id > 1
            """,
        ),
        (
            "repayments",
            # partial repayments on a third of the loans: one to three, between the report and
            # the settlement (or now)
            """
            INSERT INTO repayments (case_id, loan_id, amount, paid_on, source, unit_code, recorded_at)
            SELECT l.case_id, l.id, round(l.principal * (0.02 + 0.1 * random())::numeric, 2), p.paid::date,
                   'reported', l.bank_unit_code, p.paid
            FROM loans l
            CROSS JOIN LATERAL generate_series(1, 1 + l.id % 3) AS k
            CROSS JOIN LATERAL (SELECT l.reported_at + (coalesce(l.settled_at, now()) - l.reported_at)
                                       * random() AS paid WHERE k > 0) AS p
            WHERE l.id % 3 = 0
            """,
        ),
        (
            "sanctions",
            # one sanction per completed sanction task, with one to three of its unit's measures;
            # lifted with the case's delisting
            f"""
            INSERT INTO sanctions (case_id, unit_code, task_id, measures, applied_at, lifted_at,
                                   lift_task_id)
            SELECT t.case_id, t.unit_code, t.id,
                   to_json(m.codes[1:1 + (t.case_id % least(3, cardinality(m.codes)))]),
                   t.completed_at, c.delisted_at,
                   CASE WHEN c.delisted_at IS NOT NULL THEN t.id END
            FROM tasks t
            JOIN cases c ON c.id = t.case_id
            JOIN (VALUES {_unit_measures()}) AS m(unit_code, codes) ON m.unit_code = t.unit_code
            WHERE t.element_id = 'apply_sanction' AND t.status = 'completed' AND t.case_id > 1
            ORDER BY t.completed_at
            """,
        ),
        (
            "events",
            # the history: a case's report, each task's completion, each referral's answer,
            # numbered on the case's chain (hashes are stand-ins: no bench reads the chain)
            """
            INSERT INTO case_events (case_id, kind, unit_code, task_id, element_id, data, active_elements,
                                     completed_elements, created_at, chain, seq, prev_hash, hash)
            SELECT case_id, kind, unit_code, task_id, element_id, '{}'::json, '[]'::json, '[]'::json,
                   created_at, 'case:' || case_id,
                   row_number() OVER (PARTITION BY case_id ORDER BY created_at, kind),
                   md5(case_id || kind || coalesce(task_id, '')) || md5(created_at::text),
                   md5(created_at::text || case_id) || md5(kind || coalesce(task_id, ''))
            FROM (
                SELECT c.id AS case_id, 'reported' AS kind, c.creditor_unit_code AS unit_code,
                       NULL AS task_id, NULL AS element_id, c.created_at
                FROM cases c WHERE c.id > 1
                UNION ALL
                SELECT t.case_id, 'task_completed', t.unit_code, t.id, t.element_id, t.completed_at
                FROM tasks t WHERE t.status = 'completed' AND t.case_id > 1
                UNION ALL
                SELECT t.case_id, 'referral_answered', t.unit_code, t.id, t.element_id, t.completed_at
                FROM tasks t
                WHERE t.status = 'completed' AND t.case_id > 1
                  AND t.element_id IN ('answer_referral', 'court_judgment')
            ) AS e
            ORDER BY created_at
            """,
        ),
        (
            "reminders",
            # the supervisors' reminders (督办): two in five of the tasks that ran past due
            """
            INSERT INTO notifications (unit_code, case_id, kind, params, dedupe_key, created_at)
            SELECT t.unit_code, t.case_id, 'reminder', '{}'::json, 'reminder:' || t.id,
                   t.due_at + interval '1 day'
            FROM tasks t
            WHERE t.due_at + interval '1 day' < coalesce(t.completed_at, now()) AND random() < 0.4
              AND t.case_id > 1
            """,
        ),
        (
            "sequences",
            """
            SELECT setval('cases_id_seq', (SELECT max(id) FROM cases)),
                   setval('debtors_id_seq', (SELECT max(id) FROM debtors))
            """,
        ),
        ("plan", "DROP TABLE bench_plan"),
    ]
    with engine.begin() as conn:
        # bulk load: no foreign-key triggers (the rows are consistent by construction) and the
        # secondary indexes built once at the end instead of updated row by row
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename IN ('debtors', 'cases', 'tasks', 'case_participants', 'loans', 'repayments', "
                "'sanctions', 'case_events', 'notifications') "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        ).all()
        for name, _definition in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        for label, sql in steps:
            start = time.perf_counter()
            conn.execute(text(sql))
            print(f"  {label}: {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        for _name, definition in indexes:
            conn.execute(text(definition))
        print(f"  {len(indexes)} indexes: {time.perf_counter() - start:.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        start = time.perf_counter()
        conn.execute(text("VACUUM ANALYZE"))  # visibility map for index-only scans, fresh statistics
        print(f"  vacuum analyze: {time.perf_counter() - start:.1f} s", flush=True)


def prepare(cases: int, regenerate: bool) -> Any:
    url = make_url(URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    migrate(URL)
    app = create_app({"DATABASE_URL": URL, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench"})
    engine: Engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(Case.__table__))
    if have >= cases and not regenerate:
        print(f"using the {have} cases already in {url.database} (--regenerate to build again)")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # a migration may have rewritten rows (visibility map)
        return app
    print(f"generating {cases} cases into {url.database} ...", flush=True)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        extra = [(code, "bank") for code in EXTRA_BANKS] + [(code, "employer") for code in EXTRA_EMPLOYERS]
        for code, kind in extra:
            conn.execute(
                text("INSERT INTO units (code, name_zh, name_en, kind) VALUES (:c, :c, :c, :k)"),
                {"c": code, "k": kind},
            )
    seed_users(app)  # the catalogue's units, then a caseworker for every unit
    # one real case through the report page: a deployed process version and a real engine state
    Browser(app, "bank_icbc").report(report_payload(1))
    generate(engine, cases)
    return app


# --- timing -----------------------------------------------------------------------------


class Captured:
    """The last SELECT the app sent, to EXPLAIN it with the same parameters."""

    def __init__(self, engine: Engine) -> None:
        self.statement: tuple[str, Any] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statement = (statement, parameters)


def timed(app: Any, call: Callable[[Any], Any], runs: int) -> list[float]:
    maker = app.extensions["db_sessionmaker"]
    times = []
    for i in range(runs):
        with app.app_context(), maker() as session:
            start = time.perf_counter()
            call(session, i)
            times.append((time.perf_counter() - start) * 1000)
    return times


def explain(app: Any, captured: Captured, call: Callable[..., Any]) -> str:
    maker = app.extensions["db_sessionmaker"]
    with app.app_context(), maker() as session:
        call(session, 0)
    assert captured.statement is not None
    statement, parameters = captured.statement
    with app.extensions["db_engine"].connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
    return "\n".join(r[0] for r in rows)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(app: Any, runs: int) -> tuple[list[tuple[str, list[float]]], list[tuple[str, str, str]], dict]:
    rng = random.Random(7)
    maker = app.extensions["db_sessionmaker"]
    with maker() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        for user in users.values():
            session.expunge(user)
        counts = dict(
            session.execute(
                select(Task.unit_code, func.count()).where(Task.status == "open").group_by(Task.unit_code)
            ).all()
        )
        sizes = {
            "cases": session.scalar(select(func.count()).select_from(Case.__table__)),
            "tasks": session.scalar(select(func.count()).select_from(Task.__table__)),
            "open cases": session.scalar(select(func.count()).where(Case.status == "open")),
            "open tasks": sum(counts.values()),
            "overdue open tasks": session.scalar(
                select(func.count()).where(Task.status == "open", Task.due_at < func.now())
            ),
            "units with open tasks": len(counts),
            "office open tasks": counts.get("office", 0),
        }
    workers = [u for u in users.values() if u.unit_code in counts and u.has_role("caseworker")]
    units = sorted(counts)
    fragments = [*SURNAMES[:20], *GIVEN[:10], *PLACES, "科技有限公司", "王伟", "张芳"]
    rare = ["城关伟芳科技", "李秀英", "永安建国", "不存在的名字"]

    def pick_user(i: int) -> User:
        return workers[(i * 7919 + rng.randrange(len(workers))) % len(workers)]

    scenarios: list[tuple[str, Callable[..., Any]]] = [
        ("inbox, first page, oldest first (random unit)", lambda s, i: tasks.inbox(s, pick_user(i))),
        (
            "inbox, first page, newest first (random unit)",
            lambda s, i: tasks.inbox(s, pick_user(i), order="newest"),
        ),
        (
            "inbox, first page, soonest due first (random unit)",
            lambda s, i: tasks.inbox(s, pick_user(i), order="due"),
        ),
        ("inbox, overdue only (random unit)", lambda s, i: tasks.inbox(s, pick_user(i), due="overdue")),
        ("inbox of the office (largest), oldest first", lambda s, i: tasks.inbox(s, users["office"])),
        ("supervisor overdue list, all units", lambda s, i: supervision.task_list(s)),
        (
            "supervisor overdue list, one unit",
            lambda s, i: supervision.task_list(s, unit=units[rng.randrange(len(units))]),
        ),
        ("supervisor dashboard (counts, stages by age, stale)", lambda s, i: supervision.dashboard(s)),
        (
            "case search by name, office (common fragment)",
            lambda s, i: queries.list_cases(s, users["office"], query=rng.choice(fragments)),
        ),
        (
            "case search by name, office (rare or no match)",
            lambda s, i: queries.list_cases(s, users["office"], query=rng.choice(rare)),
        ),
        (
            "case search by name and status open, office",
            lambda s, i: queries.list_cases(s, users["office"], status="open", query=rng.choice(fragments)),
        ),
        (
            "case list of a bank (participant), newest first",
            lambda s, i: queries.list_cases(s, users[rng.choice(BANKS)]),
        ),
        (
            "case search by name, a bank",
            lambda s, i: queries.list_cases(s, users[rng.choice(BANKS)], query=rng.choice(fragments)),
        ),
    ]
    captured = Captured(app.extensions["db_engine"])
    results, plans = [], []
    for label, call in scenarios:
        timed(app, call, 5)  # warm the cache and the statement compilation
        values = timed(app, call, runs)
        print(f"  {label}: p50 {statistics.median(values):.1f} ms, p95 {_p95(values):.1f} ms", flush=True)
        results.append((label, values))
        plans.append(
            (label, captured.statement[0] if captured.statement else "", explain(app, captured, call))
        )
    return results, plans, sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    app = prepare(args.cases, args.regenerate)
    results, plans, sizes = measure(app, args.runs)
    write(args.runs, results, plans, sizes)


def write(
    runs: int, results: list[tuple[str, list[float]]], plans: list[tuple[str, str, str]], sizes: dict
) -> None:
    machine = f"{setup.machine()}, PostgreSQL 15 (default settings: shared_buffers 128 MB)"
    rows = [f"| {label} | {statistics.median(v):.1f} | {_p95(v):.1f} | {len(v)} |" for label, v in results]
    size_text = ", ".join(f"{v:,} {k}" for k, v in sizes.items())
    body = "\n".join(
        [
            f"Data generated with set-based SQL into its own database: {size_text}. "
            "80% of cases are closed (delisted, rejected, agreement), the open ones stand in ten stages; "
            "open tasks are spread over the units, about a quarter of them overdue.",
            "",
            "Each figure is the app's own query function (`webapp/tasks/service.py` `inbox`, "
            "`webapp/supervision/service.py` `task_list` and `dashboard`, `webapp/cases/queries.py` "
            "`list_cases`) called with a fresh session, as a request does: SQL, rows and ORM objects, "
            f"no template. Units, users and search terms vary between the {runs} runs; {machine}.",
            "",
            "| query | p50 ms | p95 ms | runs |",
            "|---|---|---|---|",
            *rows,
            "",
            "Search terms: common fragments are mostly one or two characters (a surname, a place), which "
            "no trigram index can serve: the search walks the cases newest first through an index that "
            "holds the debtor's name (migration 0007); rare terms are three characters or more and use "
            "the trigram index (see PRODUCTION.md, Scale).",
            "",
            "Goal: inbox first page ≤ 50 ms p95. Indexes: `migrations/versions/0005_query_indexes.py`, "
            "`0007_case_search_by_name.py`. "
            "Plans (`EXPLAIN (ANALYZE, BUFFERS)` of one run each) are in "
            "[PRODUCTION.md](PRODUCTION.md#query-plans-with-a-million-cases).",
        ]
    )
    print(body)
    write_section("A million cases in PostgreSQL (bench/million.py)", body)
    _write_plans(plans)


def _write_plans(plans: list[tuple[str, str, str]]) -> None:
    doc = ROOT / "docs" / "PRODUCTION.md"
    marker = "## Query plans with a million cases"
    text_ = doc.read_text(encoding="utf-8") if doc.exists() else "# Production\n"
    head = text_.split(marker)[0].rstrip()
    parts = [
        head,
        "",
        marker,
        "",
        f"Written by `bench/million.py` ({dt.date.today().isoformat()}); one run of each query of the "
        "table in PERFORMANCE.md, with its parameters as the app sent them.",
    ]
    for label, statement, plan in plans:
        parts += ["", f"### {label}", "", "```sql", statement.strip(), "```", "", "```", plan, "```"]
    doc.write_text("\n".join(parts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
