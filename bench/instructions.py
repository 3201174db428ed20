"""Instructions per request, counted by callgrind: a measure the machine's load does not move.

Run: .venv/bin/python -m bench.instructions [--rounds 5] [--concurrency 32]
Needs valgrind and a C compiler with valgrind's headers (Debian: `valgrind`, `gcc`).

On this 2-core machine the rates of `bench.webhooks` move by a fifth from one run to the next,
so a change of a few percent cannot be seen in them. This counts instead the CPU instructions
the app executes per request, which repeat to within 0.1 % between runs of one checkout (two
checkouts at different paths differ by up to about 1 % on identical code: the paths move the
hash layout of dictionaries). The app is built in
process (its settings as `bench.procs` gives them, SQLite in a temporary folder, the configured
creator present) and called as an ASGI app, without uvicorn or sockets; each part sends
`--rounds` rounds of `--concurrency` requests at once, so deliveries are batched as under the
closed loop:

- the trivial `POST /api/ping`;
- signed `membership.activated` deliveries for new members (each creates a user, a student, a
  membership, a welcome email and audit rows);
- signed `membership.updated` deliveries for the members the previous part created.

The process runs under `valgrind --tool=callgrind` with collection off, and each part switches
it on around itself (client requests from a small C helper, compiled on first use), so warm-up
and setup are not counted. It prints instructions per request for each part and the trivial
POST's share of each delivery's (what `bench.webhooks` divides, less uvicorn's parsing and the
kernel, which both pay alike). Two versions of the code compare with `PYTHONPATH=<checkout>/src`
in front of the command, one after the other: the counts do not drift.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from bench import webhooks

HELPER = r"""
#include <valgrind/callgrind.h>
void region_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void region_stop(const char *name) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT(name); }
"""
PARTS = ("trivial POST /api/ping", "new members", "existing members")


def _helper(gcc: str, folder: Path) -> Path:
    """The region helper, compiled into `folder`."""
    source, library = folder / "regions.c", folder / "libregions.so"
    source.write_text(HELPER)
    subprocess.run(
        [gcc, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library


@contextlib.contextmanager
def _region(lib: ctypes.CDLL, name: str) -> Iterator[None]:
    lib.region_start()
    try:
        yield
    finally:
        lib.region_stop(name.encode())


def _asgi(signed: tuple[bytes, dict[str, str]]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A signed delivery from bench.webhooks (the same payloads), its headers as ASGI's."""
    body, headers = signed
    raw = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    return body, raw + [(k.encode(), v.encode()) for k, v in headers.items()]


async def _call(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One POST through the ASGI app; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never hangs up
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure(args: argparse.Namespace, lib: ctypes.CDLL, tmp: str) -> None:
    """Build the app, then run each part inside its region."""
    from mentora.app import create_app
    from mentora.config import load_settings
    from mentora.creators import ensure_configured_creator
    from mentora.db.migrate import upgrade
    from mentora.logging import configure_logging
    from mentora.services import build_services

    url = f"sqlite:///{tmp}/instructions.db"
    env = {
        "MENTORA_ENV": "test",
        "APP_URL": "http://127.0.0.1:8000",
        "DATABASE_URL": url,
        "WHOP_OAUTH_ISSUER": "http://127.0.0.1:9",
        "WHOP_API_BASE_URL": "http://127.0.0.1:9/api/v1",
        "WHOP_CLIENT_ID": "app_demo",
        "WHOP_CLIENT_SECRET": "bench-client-secret",
        "WHOP_API_KEY": "bench-api-key",
        "WHOP_WEBHOOK_SECRET": webhooks.SECRET,
        "WHOP_COMPANY_ID": "biz_demo",
        "MAIL_DIR": f"{tmp}/mail",
        "LOG_LEVEL": "WARNING",  # as bench.procs runs the app
        "RATELIMIT_ENABLED": "false",
    }
    settings = load_settings(env)
    configure_logging(fmt="json", level=settings.log_level, serving=True)
    upgrade(url)
    services = build_services(settings)
    await ensure_configured_creator(services, name="Demo Academy")
    app = create_app(settings, services=services)
    size = args.concurrency
    members = [f"m{n}" for n in range(args.rounds * size)]
    ping = [(b"host", b"127.0.0.1"), (b"content-length", b"0")]
    path = "/api/whop/webhooks"
    signer = Webhook(base64.b64encode(webhooks.SECRET.encode()).decode())
    async with app.router.lifespan_context(app):
        warm = [_asgi(webhooks._activation(signer, f"warm_{n}", f"w{n}")) for n in range(size)]
        await asyncio.gather(*(_call(app, "/api/ping", b"", ping) for _ in range(size)))
        await asyncio.gather(*(_call(app, path, b, h) for b, h in warm))

        def new(m: str) -> tuple[bytes, dict[str, str]]:
            return webhooks._activation(signer, f"msg_new_{m}", m)

        def existing(m: str) -> tuple[bytes, dict[str, str]]:
            return webhooks._delivery(signer, f"msg_upd_{m}", 0, m)

        for part, make in zip(PARTS, (None, new, existing), strict=True):
            rounds: list[list[tuple[str, bytes, list[tuple[bytes, bytes]]]]] = []
            for r in range(args.rounds):
                if make is None:
                    rounds.append([("/api/ping", b"", ping)] * size)
                    continue
                batch = members[r * size : (r + 1) * size]
                rounds.append([(path, *_asgi(make(m))) for m in batch])
            with _region(lib, part):
                for requests in rounds:
                    answers = await asyncio.gather(*(_call(app, *r) for r in requests))
                    if any(status >= 300 for status in answers):
                        raise SystemExit(f"{part}: answered {sorted(set(answers))}")
    await services.aclose()


def _counts(folder: Path) -> dict[str, int]:
    """Instructions of each region, from callgrind's dumps in `folder`."""
    found: dict[str, int] = {}
    for dump in folder.glob("callgrind.*"):
        name = total = None
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger: Client Request: "):
                name = line.removeprefix("desc: Trigger: Client Request: ")
            elif line.startswith("totals:"):
                total = int(line.split()[1])
        if name in PARTS and total is not None:
            found[name] = total
    return found


def main() -> None:
    """Run this module again under callgrind, then print its counts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        with tempfile.TemporaryDirectory() as tmp:
            lib = ctypes.CDLL(os.environ["MENTORA_BENCH_REGIONS"])
            asyncio.run(_measure(args, lib, tmp))
        return
    valgrind, gcc = shutil.which("valgrind"), shutil.which("gcc")
    if valgrind is None or gcc is None:
        raise SystemExit("bench.instructions needs valgrind and gcc (Debian: valgrind, gcc)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            helper = _helper(gcc, folder)
        except subprocess.CalledProcessError as exc:
            error = exc.stderr.decode()[-300:]
            raise SystemExit(f"cannot build the region helper: {error}") from None
        command = [
            valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder}/callgrind.%p",
            sys.executable,
            "-m",
            "bench.instructions",
            "--inside",
            f"--rounds={args.rounds}",
            f"--concurrency={args.concurrency}",
        ]
        # The same hash seed every run: set and dict orders, and so the work, repeat exactly.
        env = {**os.environ, "PYTHONHASHSEED": "0", "MENTORA_BENCH_REGIONS": str(helper)}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the measured run failed:\n{done.stdout[-800:]}{done.stderr[-800:]}")
        counts = _counts(folder)
    requests = args.rounds * args.concurrency
    print(
        f"instructions per request (callgrind), {args.rounds} rounds of {args.concurrency} "
        "at once, in process, SQLite"
    )
    trivial = counts[PARTS[0]] / requests
    for part in PARTS:
        per = counts[part] / requests
        print(f"{part:<24} {per:>12,.0f}   trivial ÷ this {trivial / per:.3f}")


if __name__ == "__main__":
    main()
