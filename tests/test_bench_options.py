"""The benchmarks' command lines accept issue 17's options, and the profile helpers group
py-spy's raw lines as documented. No benchmark runs here: figures are never asserted."""

from __future__ import annotations

from bench import gate, webhooks
from bench.profile import breakdown, top_frames

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
    """`bench.webhooks --profile --rounds 2` parses; its targets are the issue's."""
    args = webhooks.parser().parse_args(["--profile", "--rounds", "2"])
    assert args.profile and args.rounds == 2
    assert webhooks.TARGETS == {webhooks.NEW: 0.30, webhooks.EXISTING: 0.40}


def test_top_frames_counts_own_and_inclusive_samples() -> None:
    """Own samples go to the innermost frame; inclusive ones to every frame on the stack."""
    own = dict(top_frames(RAW))
    assert own["version (mentora/access/cache.py)"] == 75.0
    inclusive = dict(top_frames(RAW, inclusive=True, within="mentora/"))
    assert inclusive["main (mentora/cli/__init__.py)"] == 100.0
    assert inclusive["gate (mentora/web/gate.py)"] == 75.0
    assert breakdown(RAW).own["mentora"] == 3
