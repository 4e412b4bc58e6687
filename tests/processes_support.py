"""Running Liandong in the shape production runs it: every step in a process of its own.

Production runs gunicorn workers and a timer worker; each step of a case may land in another
process, with nothing of the engine kept in memory from the step before. The tests in
``tests/test_production_shape.py`` drive whole cases that way, through this module:

- ``Deployment``: a migrated database with users and API tokens, and the environment a
  process of the app reads (``LIANDONG_*``). Steps are run by ``SubprocessDriver`` (each API
  call in a fresh Python process, with Flask's test client against ``create_app()``) or by
  ``HttpDriver`` (real HTTP to a running gunicorn);
- ``case_state``: what the case's rows say after a step, read with plain SQL (no engine);
- run as a module, the commands the subprocesses run (only the standard library is imported
  before the command is chosen, so the clock can be moved before the app is imported)::

      python -m tests.processes_support clock WHEN FLASK-ARGS...  # `flask FLASK-ARGS` at another time
      python -m tests.processes_support setup                     # users and tokens (JSON out)
      python -m tests.processes_support api                       # one API action (JSON in and out)

  ``WHEN`` is an ISO 8601 moment or ``+SECONDS`` from now; the clock keeps ticking from there
  (freezegun), in that process only: no hook in the app.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STEP_TIMEOUT = 120  # seconds a single step's process may take
SECRET_KEY = "production-shape-tests"


# ---------------------------------------------------------------------------------------------
# the environment of a process of the app
# ---------------------------------------------------------------------------------------------
@dataclass
class Deployment:
    """One database of the app, and what a process needs to run against it."""

    url: str
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIANDONG_", "FLASK_"))}
        env.update(
            {
                "LIANDONG_DATABASE_URL": self.url,
                "LIANDONG_SECRET_KEY": SECRET_KEY,
                "LIANDONG_INSTANCE_DIR": str(self.tmp / "instance"),
                "LIANDONG_UPLOAD_DIR": str(self.tmp / "uploads"),
                # the app of this checkout, whatever the venv's editable install points to
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = STEP_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` in a fresh process of this deployment (not checked)."""
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [PYTHON, *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.env(),
            timeout=timeout,
            check=False,
        )

    def check_run(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, describe_failure(args, done)
        return done.stdout

    def flask(self, *args: str, at: str | None = None) -> str:
        """``flask --app webapp ARGS`` in a fresh process, its clock at ``at`` if given."""
        if at is None:
            return self.check_run("-m", "flask", "--app", "webapp", *args)
        return self.check_run("-m", "tests.processes_support", "clock", at, "--app", "webapp", *args)

    def migrate(self) -> None:
        self.check_run("-m", "alembic", "upgrade", "head")

    def seed(self) -> None:
        """Users (one caseworker per unit, user name = unit code) and a token for each."""
        self.tokens = json.loads(self.check_run("-m", "tests.processes_support", "setup"))


def describe_failure(args: tuple[str, ...] | list[str], done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"`python {' '.join(args)}` exited {done.returncode}\n"
        f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-6000:]}"
    )


# ---------------------------------------------------------------------------------------------
# API actions: the same for a subprocess with a test client and for real HTTP
# ---------------------------------------------------------------------------------------------
class Transport(Protocol):
    def __call__(
        self, method: str, path: str, token: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]: ...


def perform(send: Transport, action: Mapping[str, Any]) -> dict[str, Any]:
    """One action a user or a bank's system takes through the API.

    ``report`` (payload), ``complete`` (case_id, element, data: the user's open task of that
    element on the case, found in the user's inbox), ``settle`` (case_id, body), ``close``
    (case_id, body: the office closes without settlement), ``show`` (case_id). The answer:
    ``status``, ``body`` and for ``complete`` the ``task`` found.
    """
    token, kind = action["token"], action["action"]
    if kind == "report":
        status, body = send("POST", "/api/v1/cases", token, action["payload"])
    elif kind == "list_defaulter":
        status, body = send("POST", "/api/v1/defaulters", token, action["payload"])
    elif kind == "settle":
        status, body = send("POST", f"/api/v1/cases/{action['case_id']}/settlement", token, action["body"])
    elif kind == "close":
        status, body = send("POST", f"/api/v1/cases/{action['case_id']}/closing", token, action["body"])
    elif kind == "show":
        status, body = send("GET", f"/api/v1/cases/{action['case_id']}", token)
    elif kind == "complete":
        task = None
        page = 1
        while task is None:
            status, inbox = send("GET", f"/api/v1/tasks?page={page}", token)
            if status != 200:
                return {"status": status, "body": inbox, "stage": "inbox"}
            tasks = inbox["tasks"]
            task = next(
                (
                    t
                    for t in tasks
                    if t["case_id"] == action["case_id"]
                    and t["element_id"] == action["element"]
                    and t["status"] == "open"
                ),
                None,
            )
            if task is None and not tasks:
                return {"status": 0, "body": {"error": f"no open {action['element']} task in the inbox"}}
            page += 1
        status, body = send("POST", f"/api/v1/tasks/{task['id']}/complete", token, {"data": action["data"]})
        return {"status": status, "body": body, "task": task}
    else:
        raise ValueError(f"unknown action {kind}")
    return {"status": status, "body": body}


class Driver(Protocol):
    """Runs one action as the given user, each in the shape of the deployment under test."""

    deployment: Deployment

    def act(self, action: dict[str, Any]) -> dict[str, Any]: ...

    def pass_deadline(self, case_id: int, due: dt.datetime) -> None: ...


class SubprocessDriver:
    """Every action in a fresh Python process: ``create_app()`` and Flask's test client."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def act(self, action: dict[str, Any]) -> dict[str, Any]:
        args = ["-m", "tests.processes_support", "api"]
        done = self.deployment.run(*args, stdin=json.dumps(action))
        assert done.returncode == 0, describe_failure(args, done)
        answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        answer["stderr"] = done.stderr
        return answer

    def pass_deadline(self, case_id: int, due: dt.datetime) -> None:
        """The timer worker's pass (``flask worker --once``) in a process whose clock is a
        minute past the deadline."""
        at = (due + dt.timedelta(minutes=1)).isoformat()
        out = self.deployment.flask("worker", "--once", at=at)
        assert out.startswith("fired 1, failed 0"), out


class HttpDriver:
    """Real HTTP (bearer tokens) to a server; deadlines are fired by a running worker."""

    def __init__(self, deployment: Deployment, base_url: str) -> None:
        self.deployment = deployment
        self.base_url = base_url

    def send(
        self, method: str, path: str, token: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")

    def act(self, action: dict[str, Any]) -> dict[str, Any]:
        return perform(self.send, action)

    def pass_deadline(self, case_id: int, due: dt.datetime, timeout: float = 30) -> None:
        """Wait until the running worker (its clock moved past the deadline) has fired it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = case_state(self.deployment.url, case_id)
            if state.next_timer_at != due or state.incident:
                return
            time.sleep(0.2)
        raise AssertionError(f"the worker did not fire case {case_id}'s deadline {due} in {timeout}s")


# ---------------------------------------------------------------------------------------------
# what the case's rows say
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseState:
    case_id: int
    status: str
    stage: str | None
    outcome: str | None
    blacklisted: bool
    next_timer_at: dt.datetime | None
    incident: str | None
    open_tasks: list[tuple[str, str]]  # (element, unit), sorted

    def moves_on(self) -> bool:
        """A case always has a next step until it is closed: an open task or a pending timer."""
        return self.status == "closed" or bool(self.open_tasks) or self.next_timer_at is not None

    def describe(self) -> str:
        return (
            f"case {self.case_id}: status {self.status}, stage {self.stage}, outcome {self.outcome}, "
            f"blacklisted {self.blacklisted}, open tasks {self.open_tasks or 'none'}, "
            f"next timer {self.next_timer_at or 'none'}, incident {self.incident or 'none'}"
        )


def case_state(url: str, case_id: int) -> CaseState:
    """The case's projected rows (cases, tasks), read with plain SQL by this process."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT status, stage, outcome, blacklisted, next_timer_at, incident "
                    "FROM cases WHERE id = :id"
                ),
                {"id": case_id},
            ).one()
            tasks = conn.execute(
                text("SELECT element_id, unit_code FROM tasks WHERE case_id = :id AND status = 'open'"),
                {"id": case_id},
            ).all()
    finally:
        engine.dispose()
    timer = row.next_timer_at
    if isinstance(timer, str):  # SQLite hands the stored text back to a plain statement
        timer = dt.datetime.fromisoformat(timer)
    if timer is not None and timer.tzinfo is None:
        timer = timer.replace(tzinfo=dt.UTC)
    return CaseState(
        case_id=case_id,
        status=row.status,
        stage=row.stage,
        outcome=row.outcome,
        blacklisted=bool(row.blacklisted),
        next_timer_at=timer,
        incident=row.incident,
        open_tasks=sorted((e, u) for e, u in tasks),
    )


# ---------------------------------------------------------------------------------------------
# a real server: gunicorn and the timer worker
# ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A process started for a test, its output in files (read when a test fails)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def output(self) -> str:
        """The end of its output, headed by its name, pid and exit status."""
        tail = self.text()[-8000:]
        return f"--- {self.name} (pid {self.process.pid}, exit {self.process.poll()}) ---\n{tail}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(deployment: Deployment, name: str, *args: str) -> Server:
    log = deployment.tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [PYTHON, *args], cwd=ROOT, env=deployment.env(), stdout=out, stderr=subprocess.STDOUT
        )
    return Server(name, process, log)


def wait_until_ready(server: Server, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"{server.name} exited before it was ready\n{server.output()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{server.name} not ready at {url} after {timeout}s\n{server.output()}")


@contextmanager
def explained(servers: list[Server]) -> Iterator[None]:
    """On any failure inside, print the servers' output (pytest shows it with the failure)."""
    try:
        yield
    except BaseException:
        for server in servers:
            print(server.output())
        raise


# ---------------------------------------------------------------------------------------------
# the commands the subprocesses run
# ---------------------------------------------------------------------------------------------
def _clock(when: str, flask_args: list[str]) -> None:
    """``flask FLASK_ARGS`` with this process's clock at ``when``, ticking."""
    from freezegun import freeze_time

    if when.startswith("+"):
        moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(when[1:]))
    else:
        moment = dt.datetime.fromisoformat(when)
    freeze_time(moment, tick=True).start()  # before the app is imported
    from flask.cli import main

    sys.argv = ["flask", *flask_args]
    main()


def _setup() -> None:
    from tests.support import seed_users
    from webapp import create_app

    app = create_app()
    users = seed_users(app)
    runner = app.test_cli_runner()
    tokens = {}
    for username in sorted(users):
        result = runner.invoke(args=["tokens", "issue", username])
        assert result.exit_code == 0, result.output
        tokens[username] = result.output.strip()
    print(json.dumps(tokens))


def _api() -> None:
    from webapp import create_app

    action = json.loads(sys.stdin.read())
    client = create_app().test_client()

    def send(method: str, path: str, token: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json(silent=True)

    print(json.dumps(perform(send, action)))


def main(argv: list[str]) -> None:
    command, rest = argv[0], argv[1:]
    if command == "clock":
        _clock(rest[0], rest[1:])
    elif command == "setup":
        _setup()
    elif command == "api":
        _api()
    else:
        raise SystemExit(f"unknown command {command}; see the docstring of {__name__}")


if __name__ == "__main__":
    main(sys.argv[1:])
