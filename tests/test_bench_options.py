"""The benchmarks' command lines accept issue 17's options, and the profile helpers group
py-spy's raw lines as documented. No benchmark runs here: figures are never asserted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench import gate, instructions, webhooks
from bench.profile import breakdown, top_frames
from bench.rawhttp import LoadResult

RAW = [
    "main (mentora/cli/__init__.py:10);gate (mentora/web/gate.py:5);"
    "version (mentora/access/cache.py:7) 3",
    "main (mentora/cli/__init__.py:10);send (uvicorn/protocols/http/httptools_impl.py:9) 1",
]


def test_gate_accepts_seeding_path_and_profile() -> None:
    """`bench.gate --creators 2 --memberships 10000 --path … --profile` parses."""
    args = gate.parser().parse_args(
        ["--creators", "2", "--memberships", "10000", "--path", "/c/x/api/content", "--profile"]
    )
    assert (args.creators, args.memberships, args.path, args.profile) == (
        2,
        10000,
        "/c/x/api/content",
        True,
    )
    assert args.workers == 1  # the figure is for one worker


def test_gate_refuses_a_third_creator() -> None:
    """Only one or two creators can be seeded."""
    try:
        gate.parser().parse_args(["--creators", "3"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--creators 3 was accepted")


def test_webhooks_accepts_profile_and_rounds() -> None:
    """`bench.webhooks --profile --rounds 2` parses; its targets are the issue's; its parts
    take three turns unless told otherwise."""
    args = webhooks.parser().parse_args(["--profile", "--rounds", "2"])
    assert args.profile and args.rounds == 2
    assert args.alternations == 3
    assert webhooks.parser().parse_args(["--alternations", "1"]).alternations == 1
    assert webhooks.TARGETS == {webhooks.NEW: 0.30, webhooks.EXISTING: 0.40}


def test_top_frames_counts_own_and_inclusive_samples() -> None:
    """Own samples go to the innermost frame; inclusive ones to every frame on the stack."""
    own = dict(top_frames(RAW))
    assert own["version (mentora/access/cache.py)"] == 75.0
    inclusive = dict(top_frames(RAW, inclusive=True, within="mentora/"))
    assert inclusive["main (mentora/cli/__init__.py)"] == 100.0
    assert inclusive["gate (mentora/web/gate.py)"] == 75.0
    assert breakdown(RAW).own["mentora"] == 3


def test_instruction_counts_are_read_per_region_from_callgrind_dumps(tmp_path: Path) -> None:
    """Each part's dump (named by its client request) gives its total; the dump callgrind
    writes at exit, and regions that are not parts, are ignored."""
    (tmp_path / "callgrind.7").write_text("desc: Trigger: Program termination\ntotals: 99\n")
    (tmp_path / "callgrind.7.1").write_text(
        "desc: Trigger: Client Request: new members\nsummary: 1234\ntotals: 1234\n"
    )
    (tmp_path / "callgrind.7.2").write_text("desc: Trigger: Client Request: warm-up\ntotals: 5\n")
    assert instructions._counts(tmp_path) == {"new members": 1234}


def test_a_parts_turns_merge_into_one_rate() -> None:
    """Turns of one part add up: the rate is all requests over all their time (not a mean of
    the turns' rates), CPU per request is weighted by requests, statements and batches add."""
    turns = [
        webhooks.Phase(
            LoadResult(requests=100, non_2xx=1, seconds=1.0, latencies_ms=[1.0, 2.0]),
            cpu_ms=0.5,
            statements=Counter({"INSERT": 10}),
            batches=4,
        ),
        webhooks.Phase(
            LoadResult(requests=300, non_2xx=0, seconds=2.0, latencies_ms=[3.0]),
            cpu_ms=0.3,
            statements=Counter({"INSERT": 20, "SELECT": 5}),
            batches=12,
        ),
    ]
    merged = webhooks._merged(turns)
    assert (merged.load.requests, merged.load.non_2xx, merged.load.seconds) == (400, 1, 3.0)
    assert merged.per_second == 400 / 3.0
    assert merged.load.latencies_ms == [1.0, 2.0, 3.0]
    assert abs(merged.cpu_ms - (100 * 0.5 + 300 * 0.3) / 400) < 1e-12
    assert merged.statements == Counter({"INSERT": 30, "SELECT": 5})
    assert merged.batches == 16
    assert merged.profile is None  # no turn was sampled
