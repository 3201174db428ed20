"""A/B two app configurations with bench.webhooks and bench.gate in one run, over real sockets.

Run: .venv/bin/python -m bench.ab --a NAME=VALUE [--a ...] --b NAME=VALUE [--b ...]
      [--label-a A] [--label-b B] [--repeats 2] [--webhook-seconds 5] [--gate-seconds 3]

A variant is the environment the app process gets on top of the bench's own (bench/procs.py),
so anything the app reads from its environment can be compared. Each repeat runs, for each
variant in turn (A, B, A, B, ...), the closed-loop phase of bench.webhooks (the trivial
`POST /api/ping`, then signed deliveries for new members, each creating its user, student,
membership and welcome email, then updates for existing members) and bench.gate (`/healthz` and the gated `/api/content` in alternating rounds),
each in a fresh app and emulator on SQLite. The machine's speed drifts, so every figure is a
ratio to the trivial endpoint of the same app process, and the variants alternate to spread
drift over both. Prints one line per run (with the load average before it), then the medians
and B/A for each ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from dataclasses import dataclass

from bench import gate, webhooks
from bench.procs import running
from bench.rawhttp import LoadResult

RATIOS = (
    "new members/trivial",
    "existing/trivial",
    "gated/healthz",
    "CPU healthz/gated",  # the app's CPU per request, the same way round as the rates
)


@dataclass
class Run:
    """One variant's figures from one repeat."""

    variant: str
    load: float
    trivial_post: float
    webhooks_new: float
    webhooks_existing: float
    healthz: float
    gated: float
    failures: int
    healthz_cpu_us: float = float("nan")  # the app's CPU per request
    gated_cpu_us: float = float("nan")

    def ratios(self) -> tuple[float, float, float, float]:
        """The figures that are compared: each a rate over its trivial endpoint's, and the
        app's CPU per `/healthz` over its CPU per gated request."""
        return (
            self.webhooks_new / max(self.trivial_post, 1e-9),
            self.webhooks_existing / max(self.trivial_post, 1e-9),
            self.gated / self.healthz,
            self.healthz_cpu_us / self.gated_cpu_us,
        )


def _environment(assignments: list[str]) -> dict[str, str]:
    env = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            raise SystemExit(f"not NAME=VALUE: {assignment!r}")
        env[name] = value
    return env


def measure(variant: str, env: dict[str, str], webhook_seconds: float, gate_seconds: float) -> Run:
    """bench.webhooks' closed loop (unless `webhook_seconds` is 0), then bench.gate, each
    against a fresh app with `env`."""
    load = os.getloadavg()[0]
    nothing = LoadResult(requests=0, seconds=1.0)
    trivial, new, existing = nothing, nothing, nothing
    rates: dict[str, webhooks.Phase] = {}
    # One worker and the bench's SQLite file given by position, so the type checker knows no
    # variant's NAME=VALUE can land on them.
    if webhook_seconds > 0:
        with running(1, None, SYNC_INTERVAL_SECONDS="0", **env) as procs:
            rates = asyncio.run(webhooks.throughput(procs.app_url, webhook_seconds, 32))
        trivial, new, existing = (rates[k].load for k in webhooks.TRIVIAL_NEW_EXISTING)
    with running(1, None, **env) as procs:
        ungated, gated, calls = asyncio.run(
            gate.run(procs.app_url, procs.issuer, gate_seconds, 3, 64, app_pid=procs.app_pid)
        )
    return Run(
        variant=variant,
        load=load,
        trivial_post=trivial.per_second,
        webhooks_new=new.per_second,
        webhooks_existing=existing.per_second,
        healthz=ungated.rate,
        gated=gated.rate,
        # Any refused request or Whop call under load would make the comparison meaningless.
        failures=sum(r.load.non_2xx for r in rates.values())
        + ungated.errors
        + gated.errors
        + calls,
        healthz_cpu_us=ungated.cpu_us,
        gated_cpu_us=gated.cpu_us,
    )


def main() -> None:
    """Parse the variants, run them interleaved, print each run and the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--a", action="append", default=[], help="NAME=VALUE for variant A")
    parser.add_argument("--b", action="append", default=[], help="NAME=VALUE for variant B")
    parser.add_argument("--label-a", default="A")
    parser.add_argument("--label-b", default="B")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--webhook-seconds", type=float, default=5.0, help="0: the gate only, no webhooks"
    )
    parser.add_argument("--gate-seconds", type=float, default=3.0)
    args = parser.parse_args()
    variants = {args.label_a: _environment(args.a), args.label_b: _environment(args.b)}
    print(
        f"A/B: {args.repeats} repeats of {' then '.join(variants)}; webhooks 32 connections, "
        f"{args.webhook_seconds:.0f} s per phase; gate 64 connections, 3 x "
        f"{args.gate_seconds:.0f} s per endpoint; 1 app process, SQLite, loopback"
    )
    for label, env in variants.items():
        print(f"  {label}: {env}")
    header = (
        f"{'#':>2} {'variant':<10} {'load1':>5} {'POST ping/s':>11} {'wh new/s':>8} "
        f"{'wh old/s':>8} {'healthz/s':>9} {'gated/s':>8} "
        + " ".join(f"{name:>19}" for name in RATIOS)
        + f" {'µs healthz':>10} {'µs gated':>8} {'failures':>8}"
    )
    print(header)
    runs: list[Run] = []
    for repeat in range(1, args.repeats + 1):
        for label, env in variants.items():
            run = measure(label, env, args.webhook_seconds, args.gate_seconds)
            runs.append(run)
            print(
                f"{repeat:>2} {label:<10} {run.load:>5.2f} {run.trivial_post:>11.0f} "
                f"{run.webhooks_new:>8.0f} {run.webhooks_existing:>8.0f} {run.healthz:>9.0f} "
                f"{run.gated:>8.0f} "
                + " ".join(f"{ratio:>19.3f}" for ratio in run.ratios())
                + f" {run.healthz_cpu_us:>10.0f} {run.gated_cpu_us:>8.0f} {run.failures:>8}",
                flush=True,
            )
    medians = {
        label: [
            statistics.median(r.ratios()[i] for r in runs if r.variant == label)
            for i in range(len(RATIOS))
        ]
        for label in variants
    }
    a, b = medians[args.label_a], medians[args.label_b]
    print(f"{'median ratio':<19} {args.label_a:>10} {args.label_b:>10} {'B/A':>7}")
    for i, name in enumerate(RATIOS):
        change = b[i] / a[i] if a[i] else float("nan")  # nan: not measured (gate only)
        print(f"{name:<19} {a[i]:>10.3f} {b[i]:>10.3f} {change:>7.3f}")


if __name__ == "__main__":
    main()
