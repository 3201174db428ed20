"""Run Mentora as real OS processes: N app workers, M background workers, the Whop emulator.

Used by tests/multiprocess and bench/soak.py. Everything starts on free loopback ports against
a PostgreSQL database (and optionally Redis) that the caller names, with bounded start-up and
teardown. Every process runs in its own session (process group), so teardown reaches uvicorn's
worker children too: SIGTERM first (graceful), SIGKILL for whatever is left after the grace
period. Nothing is left behind, even when the test fails or is interrupted: the context
managers clean up in `finally`, an `atexit` hook catches what escaped them, each direct child
gets PR_SET_PDEATHSIG, and a watchdog process kills the rest (uvicorn's workers, a private
PostgreSQL) if the test runner itself is SIGKILLed.

Also here: a private PostgreSQL cluster (initdb + pg_ctl in a temp dir, as the `postgres` OS
user when we are root) and a private Redis server, for fault tests that stop them, and the
emulator's own entry point (`python -m tests.support.procs emulator ...`), which sets
`retry_delays` so Whop's 10/20/40 s retry schedule can be shortened.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
MENTORA = str(Path(sys.executable).with_name("mentora"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")

# A deadline, not a wait: a 2-core machine starting five Python processes beside a full test run
# can take minutes; a cluster that is up returns at once.
START_TIMEOUT = 180.0
# Pinned keep-alive connections (one per uvicorn worker) must outlive the slowest step between
# two uses on a busy machine; uvicorn's 5 s closed them under the tests, which then reconnected
# to whichever worker accepted (ReadError, or the wrong `x-served-by`).
KEEP_ALIVE_SECONDS = "600"
STOP_GRACE = 10.0
SECRET_KEY = "multiprocess-secret-key-0123456789abcdef0123"
TOKEN_KEY = "bXVsdGlwcm9jZXNzLXRva2VuLWtleS0wMTIzNDU2Nzg="
CLIENT_SECRET = "mp-client-secret"
API_KEY = "mp-api-key"
WEBHOOK_SECRET = "ws_mp_webhook_secret"

_PR_SET_PDEATHSIG = 1
_live: set[Proc] = set()
_live_lock = threading.Lock()


class _Watchdog:
    """A sidecar process that cleans up if this interpreter is SIGKILLed (no `finally` runs).

    PR_SET_PDEATHSIG only reaches our direct children; uvicorn's workers and a daemonized
    PostgreSQL would survive. The watchdog (its own session, no death signal) polls its parent
    and, once it is gone, SIGKILLs every process group and stops every private cluster listed
    in a state file that this process keeps current. A normal exit removes the file, and the
    watchdog leaves quietly.
    """

    def __init__(self) -> None:
        """Nothing starts until the first process does."""
        self.groups: set[int] = set()
        self.pg_dirs: set[str] = set()
        self.state: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def _write(self) -> None:
        if self.state is None:
            fd, name = tempfile.mkstemp(prefix="mentora-watchdog-", suffix=".state")
            os.close(fd)
            self.state = Path(name)
        lines = [f"pgid {g}" for g in sorted(self.groups)] + [f"pgdata {d}" for d in self.pg_dirs]
        temp = self.state.with_suffix(".tmp")
        temp.write_text("\n".join(lines) + "\n")
        os.replace(temp, self.state)
        if self.proc is None:
            self.proc = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "tests.support.procs",
                    "watchdog",
                    "--parent",
                    str(os.getpid()),
                    "--state",
                    str(self.state),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    def track(self, *, group: int | None = None, pg_dir: str | None = None) -> None:
        """Remember a process group or a private PostgreSQL data dir."""
        with self.lock:
            if group is not None:
                self.groups.add(group)
            if pg_dir is not None:
                self.pg_dirs.add(pg_dir)
            self._write()

    def forget(self, *, group: int | None = None, pg_dir: str | None = None) -> None:
        """Stop tracking what has been cleaned up normally."""
        with self.lock:
            self.groups.discard(group or -1)
            self.pg_dirs.discard(pg_dir or "")
            if self.state is not None:
                self._write()

    def close(self) -> None:
        """Normal exit: the watchdog sees its state file gone and exits."""
        with self.lock:
            if self.state is not None:
                self.state.unlink(missing_ok=True)
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)


_watchdog = _Watchdog()


def watch(parent: int, state: Path) -> None:
    """The watchdog's loop: once `parent` is gone, kill and stop whatever `state` lists."""
    while state.exists() and os.getppid() == parent:
        time.sleep(0.5)
    if not state.exists():
        return
    for line in state.read_text().splitlines():
        kind, _, value = line.partition(" ")
        if kind == "pgid":
            with contextlib.suppress(OSError, ValueError):
                os.killpg(int(value), signal.SIGKILL)
        elif kind == "pgdata":
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int((Path(value) / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)  # its backends exit when the postmaster dies
            shutil.rmtree(Path(value).parent, ignore_errors=True)
    state.unlink(missing_ok=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Looked up here, in the parent: the child of a threaded process must not dlopen after fork.
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no death signal, the watchdog still cleans up
    _prctl = None


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me when the process that started me dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(eq=False)
class Proc:
    """One started process (the leader of its own process group) and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The OS process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the whole process group (uvicorn's workers included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def children(self) -> list[int]:
        """Pids of this process's direct children (uvicorn's worker processes)."""
        return children_of(self.pid)

    def log(self, tail: int = 4000) -> str:
        """The end of the process's output."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid` (read from /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may hold spaces, so split after ")".
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> bytes:
    """The command line of `pid` (NUL-separated), empty if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_kib(pid: int) -> int | None:
    """Resident memory of `pid` in KiB (VmRSS from /proc/<pid>/status), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    """Start `argv` in its own session with output to `log_dir/<name>.log`; track it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # PDEATHSIG fires when the *thread* that forked exits, so only from the main thread.
            preexec_fn=_die_with_parent
            if _prctl is not None and threading.current_thread() is threading.main_thread()
            else None,
        )
    proc = Proc(name=name, popen=popen, log_path=log_path)
    with _live_lock:
        _live.add(proc)
    _watchdog.track(group=popen.pid)
    return proc


def stop(procs: list[Proc], *, grace: float = STOP_GRACE) -> None:
    """SIGTERM each group, wait up to `grace` seconds in all, then SIGKILL what is left."""
    for proc in procs:
        if proc.alive():
            proc.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:
        kill(proc)


def kill(proc: Proc) -> None:
    """SIGKILL the process and its group now, and reap it."""
    proc.signal_group(signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.popen.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(timeout=STOP_GRACE)
    with _live_lock:
        _live.discard(proc)
    _watchdog.forget(group=proc.pid)


@atexit.register
def _kill_leftovers() -> None:
    """Last resort: nothing we started outlives the interpreter."""
    with _live_lock:
        leftovers = list(_live)
    for proc in leftovers:
        kill(proc)
    _watchdog.close()


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str | Callable[[], str],
    procs: Sequence[Proc] = (),
) -> None:
    """Poll `check` until it is true; fail with the logs of `procs` if one died or time ran out.

    `what` names the condition in the failure (a callable is asked then, to say how far it got).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.log()}")
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(0.1)
    logs = "\n".join(f"--- {p.name}\n{p.log(1500)}" for p in procs)
    said = what if isinstance(what, str) else what()
    raise RuntimeError(f"timed out waiting for {said}\n{logs}")


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code < 500


# --- the database -------------------------------------------------------------------------


def _admin_conn(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=5)


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str = "mentora_mp") -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `admin_url`, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _admin_conn(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with contextlib.suppress(psycopg.Error), _admin_conn(admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict[str, str]) -> None:
    """`mentora db upgrade` with `env` (migrations, and the creator WHOP_COMPANY_ID names)."""
    done = subprocess.run(  # noqa: S603
        [MENTORA, "db", "upgrade"], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"mentora db upgrade failed: {done.stderr.decode()[-2000:]}")


# --- the cluster ----------------------------------------------------------------------------


@dataclass
class Cluster:
    """A running emulator, app (uvicorn master + workers) and background workers."""

    app_url: str
    issuer: str
    database_url: str
    env: dict[str, str]
    log_dir: Path
    app: Proc | None
    emulator: Proc | None
    workers: list[Proc] = field(default_factory=list)
    app_workers: int = 0
    _started: list[Proc] = field(default_factory=list)

    def start_app(self, *, wait: bool = True) -> Proc:
        """Start `mentora serve --workers N` on the cluster's port (and wait for every worker)."""
        port = self.app_url.rsplit(":", 1)[1]
        number = len([p for p in self._started if p.name.startswith("app")]) + 1
        self.app = spawn(
            "app" if number == 1 else f"app{number}",
            [
                *(MENTORA, "serve", "--port", port, "--workers", str(self.app_workers)),
                *("--timeout-keep-alive", KEEP_ALIVE_SECONDS),
            ],
            self.env,
            self.log_dir,
        )
        self._started.append(self.app)
        if wait:
            wait_every_app_worker(self, self.app_workers)
        return self.app

    def stop_app(self) -> None:
        """Stop the app the way systemd does: SIGTERM to every process, grace, then SIGKILL."""
        if self.app is not None:
            stop([self.app])
            self.app = None

    def app_pids(self) -> list[int]:
        """Pids of the uvicorn worker processes that serve requests (not the resource tracker)."""
        if self.app is None:
            return []
        return [pid for pid in self.app.children() if b"spawn_main" in cmdline(pid)]

    def start_worker(self, *, interval: float | None = None, **env: str) -> Proc:
        """Start one more `mentora worker` process (`env` overrides the cluster's settings)."""
        every = interval if interval is not None else float(self.env["MP_WORKER_INTERVAL"])
        number = len([p for p in self._started if p.name.startswith("worker")]) + 1
        proc = spawn(
            f"worker{number}",
            [MENTORA, "worker", "--interval", str(every)],
            {**self.env, "LOG_LEVEL": "INFO", **env},
            self.log_dir,
        )
        self.workers.append(proc)
        self._started.append(proc)
        return proc

    def kill(self, proc: Proc) -> None:
        """SIGKILL one process (fault tests); it stays counted as started."""
        kill(proc)
        if proc in self.workers:
            self.workers.remove(proc)

    def logs(self) -> str:
        """Every process's output, for a failing test's report."""
        return "\n".join(f"--- {p.name}\n{p.log(3000)}" for p in self._started)

    def stop(self) -> None:
        """Stop everything (graceful first, then SIGKILL)."""
        stop(self._started)


def cluster_env(
    *, app_url: str, issuer: str, database_url: str, redis_url: str | None, log_dir: Path
) -> dict[str, str]:
    """The environment every Mentora process of a cluster shares."""
    env = {
        **os.environ,
        "MENTORA_ENV": "test",
        "APP_URL": app_url,
        "DATABASE_URL": database_url,
        "WHOP_OAUTH_ISSUER": issuer,
        "WHOP_API_BASE_URL": f"{issuer}/api/v1",
        "WHOP_PURCHASE_URL": f"{issuer}/checkout",
        "WHOP_CLIENT_ID": "app_demo",
        "WHOP_APP_ID": "app_demo",
        "WHOP_CLIENT_SECRET": CLIENT_SECRET,
        "WHOP_API_KEY": API_KEY,
        "WHOP_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WHOP_COMPANY_ID": "biz_demo",
        "SECRET_KEY": SECRET_KEY,
        "TOKEN_ENCRYPTION_KEYS": TOKEN_KEY,
        "AUTHLIB_INSECURE_TRANSPORT": "1",  # the emulator is plain http on loopback
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "MAIL_DIR": str(log_dir / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    env.pop("SMTP_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def running_cluster(
    database_url: str,
    *,
    app_workers: int = 2,
    workers: int = 2,
    worker_interval: float = 0.5,
    redis_url: str | None = None,
    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0),
    emulator: bool = True,
    log_dir: Path | None = None,
    **extra_env: str,
) -> Iterator[Cluster]:
    """Emulator + `mentora serve --workers N` + M `mentora worker`, on free ports.

    The database is migrated first. Start-up waits (bounded) until the emulator answers, every
    uvicorn worker has answered a request (seen through `x-served-by`), and every worker has
    written its heartbeat. Teardown always runs.
    """
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="mentora-mp-"))
    app_port, emu_port = free_port(), free_port()
    app_url, issuer = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{emu_port}"
    env = cluster_env(
        app_url=app_url,
        issuer=issuer,
        database_url=database_url,
        redis_url=redis_url,
        log_dir=log_dir,
    )
    env.update(extra_env)
    env["MP_WORKER_INTERVAL"] = str(worker_interval)
    migrate(env)
    cluster = Cluster(
        app_url=app_url,
        issuer=issuer,
        database_url=database_url,
        env=env,
        log_dir=log_dir,
        app=None,
        emulator=None,
    )
    try:
        if emulator:
            cluster.emulator = spawn(
                "emulator",
                [
                    sys.executable,
                    "-m",
                    "tests.support.procs",
                    "emulator",
                    "--port",
                    str(emu_port),
                    "--app-url",
                    app_url,
                    "--retry-delays",
                    ",".join(str(d) for d in retry_delays),
                ],
                env,
                log_dir,
            )
            cluster._started.append(cluster.emulator)
        cluster.app_workers = app_workers
        if app_workers:
            cluster.start_app(wait=False)  # processes start in parallel; waits come after
        for _ in range(workers):
            cluster.start_worker()
        if cluster.emulator:
            wait_until(
                lambda: _answers(f"{issuer}/.well-known/openid-configuration"),
                timeout=START_TIMEOUT,
                what="the emulator",
                procs=[cluster.emulator],
            )
        if app_workers:
            wait_every_app_worker(cluster, app_workers)
        if workers:
            wait_heartbeats(cluster, workers)
        yield cluster
    finally:
        cluster.stop()


def wait_every_app_worker(cluster: Cluster, count: int) -> None:
    """Until `count` distinct uvicorn workers have each answered /healthz."""
    seen: set[str] = set()

    def check() -> bool:
        # A new connection per request: the kernel hands it to whichever worker accepts first.
        response = httpx.get(f"{cluster.app_url}/healthz", timeout=2)
        if response.status_code == 200:
            seen.add(response.headers.get("x-served-by", ""))
        return len(seen - {""}) >= count

    procs = [cluster.app] if cluster.app else []
    wait_until(
        check,
        timeout=START_TIMEOUT,
        what=lambda: f"{count} app workers (answered so far: {sorted(seen - {''}) or 'none'})",
        procs=procs,
    )


def wait_heartbeats(cluster: Cluster, count: int) -> None:
    """Until `count` worker heartbeats are in the database."""

    def check() -> bool:
        with psycopg.connect(cluster.database_url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM worker_heartbeat WHERE name LIKE 'worker:%'"
            ).fetchone()
        return bool(row and int(str(row[0])) >= count)

    wait_until(
        check, timeout=START_TIMEOUT, what=f"{count} worker heartbeats", procs=cluster.workers
    )


# --- private servers for fault tests ----------------------------------------------------------


SBIN = "/usr/sbin:/sbin"


def service_env() -> dict[str, str]:
    """This environment without libfaketime, for a private PostgreSQL or Redis server.

    Those servers stand in for the shared services, which keep the real clock whatever a test
    run does with its own (`faketime … scripts/test`); Redis built with jemalloc also crashes
    at start-up under libfaketime. Our own processes (app, worker, emulator) keep the run's
    clock: they inherit it like any other child.
    """
    return {
        key: value
        for key, value in os.environ.items()
        if key != "LD_PRELOAD" and not key.startswith(("FAKETIME", "DONT_FAKE"))
    }


def _runuser() -> str | None:
    """util-linux's runuser, also when PATH lacks the sbin folders (e.g. `env -i`)."""
    return shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), SBIN]))


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server's tools as the `postgres` user then."""
    if os.geteuid() == 0:
        return [_runuser() or "runuser", "-u", "postgres", "--", *argv]
    return argv


def private_postgres_missing() -> str | None:
    """Why a private PostgreSQL cluster cannot be started here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} is not installed (Debian: postgresql-15)"
    if os.geteuid() == 0 and _runuser() is None:
        return f"runuser is not installed (util-linux), neither on PATH nor in {SBIN}"
    return None


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL 15 cluster on a free port that a test may stop and start."""

    directory: Path
    port: int

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.directory / "data"

    @property
    def admin_url(self) -> str:
        """URL of its `postgres` database as the `postgres` superuser (trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(  # noqa: S603
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            capture_output=True,
            timeout=timeout,
            env=service_env(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {done.stdout!r} {done.stderr!r}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._pg_ctl(
            "start", "-w", "-t", "60", "-l", str(self.directory / "server.log"), "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions and disconnect everyone)."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def running(self) -> bool:
        """True when the postmaster is up."""
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stop it however it can be stopped, and remove its files."""
        if self.running():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb a new cluster in a temp dir owned by `postgres`, start it, destroy it afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="mentora-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, user="postgres", group="postgres")
    server = PrivatePostgres(directory=directory, port=free_port())
    _watchdog.track(pg_dir=str(server.data))
    try:
        done = subprocess.run(  # noqa: S603
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(server.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            capture_output=True,
            timeout=120,
            env=service_env(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.decode()[-1500:]}")
        server.start()
        yield server
    finally:
        server.destroy()
        _watchdog.forget(pg_dir=str(server.data))


@dataclass
class PrivateRedis:
    """A throw-away Redis server (no persistence) that a test may kill and start again."""

    port: int
    log_dir: Path
    proc: Proc | None = None

    @property
    def url(self) -> str:
        """Its URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it on its port and wait until it answers PING."""
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        self.proc = spawn(f"redis-{self.port}", argv, service_env(), self.log_dir)

        def pong() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        wait_until(pong, timeout=30, what="redis-server", procs=[self.proc])

    def kill(self) -> None:
        """SIGKILL it: the abrupt outage."""
        if self.proc is not None:
            kill(self.proc)
            self.proc = None


@contextlib.contextmanager
def private_redis(log_dir: Path | None = None) -> Iterator[PrivateRedis]:
    """A Redis server on a free port, killed afterwards."""
    server = PrivateRedis(port=free_port(), log_dir=log_dir or Path(tempfile.mkdtemp()))
    try:
        server.start()
        yield server
    finally:
        server.kill()


# --- the emulator's entry point ----------------------------------------------------------------


def run_emulator(port: int, app_url: str, retry_delays: tuple[float, ...]) -> None:
    """Serve the seeded emulator, sending webhooks to `app_url` with these retry delays."""
    import uvicorn

    from mentora.emulator import Emulator, EmulatorConfig

    issuer = f"http://127.0.0.1:{port}"
    emulator = Emulator(
        EmulatorConfig(
            issuer=issuer,
            client_id="app_demo",
            client_secret=CLIENT_SECRET,
            redirect_uris=[f"{app_url}/api/whop/callback"],
            api_key=API_KEY,
            webhook_url=f"{app_url}/api/whop/webhooks",
            webhook_secret=WEBHOOK_SECRET,
            retry_delays=retry_delays,
            seed_demo=True,
        )
    )
    uvicorn.run(emulator.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.support.procs emulator|watchdog ...` (started by this module only)."""
    parser = argparse.ArgumentParser(prog="tests.support.procs")
    commands = parser.add_subparsers(dest="command", required=True)
    emu = commands.add_parser("emulator", help="run the Whop emulator for a cluster")
    emu.add_argument("--port", type=int, required=True)
    emu.add_argument("--app-url", required=True)
    emu.add_argument("--retry-delays", default="10,20,40")
    dog = commands.add_parser("watchdog", help="clean up after a killed parent")
    dog.add_argument("--parent", type=int, required=True)
    dog.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "watchdog":
        watch(args.parent, args.state)
        return
    delays = tuple(float(d) for d in args.retry_delays.split(",") if d)
    run_emulator(args.port, args.app_url, delays)


def new_id(prefix: str) -> str:
    """A short random id such as `mp_3f2a9c1d`."""
    return f"{prefix}_{secrets.token_hex(4)}"


if __name__ == "__main__":
    main()
