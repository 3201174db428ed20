"""Where an app process spends its CPU: py-spy's raw output grouped by area.

`py-spy record --gil --format raw` writes one line per distinct stack, `frame;frame;… count`,
root first, each frame `function (path:line)`. A sample is charged to the innermost frame that
belongs to a known area (the library doing the work); a stack of only standard-library frames
is the event loop and the rest of Python. `inside` counts a sample for every area anywhere on
its stack ("54 % of the samples are inside SQLAlchemy"), so those shares add up to more than 100.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Path fragments that name an area, checked in this order for each frame.
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Mostly the event loop handing each cursor, execute, fetch and close to aiosqlite's thread.
    ("SQLite driver (aiosqlite)", ("/aiosqlite/", "/sqlite3/")),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("Authlib", ("/authlib/",)),
    ("whop-sdk", ("/whop_sdk/",)),
    ("outbound HTTP (httpx/httpcore)", ("/httpx/", "/httpcore/")),
    ("crypto", ("/cryptography/", "/joserfc/", "/jwt/", "hmac.py", "hashlib.py", "secrets.py")),
    ("framework (uvicorn/starlette/fastapi)", ("/uvicorn/", "/starlette/", "/fastapi/")),
    ("pydantic", ("/pydantic/", "/pydantic_core/")),
    ("templates (jinja2)", ("/jinja2/", "/markupsafe/")),
    ("logging (structlog)", ("/structlog/", "/logging/")),
    ("metrics (prometheus)", ("/prometheus_client/",)),
    ("mentora", ("/mentora/",)),
    ("h11 (HTTP parsing)", ("/h11/",)),
)
OTHER = "event loop, stdlib, other"
NATIVE = "native code (no Python frame)"
FRAME = re.compile(r"\((?P<path>[^()]*?)(?::\d+)?\)$")


@dataclass
class Breakdown:
    """Samples by area: charged to the innermost area (`own`) and present anywhere (`inside`)."""

    total: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inside: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The table, largest share first."""
        if not self.total:
            return ["profile: no samples"]
        out = [f"{'area':<40} {'own %':>6} {'inside %':>9}"]
        for area, count in self.own.most_common():
            share = 100 * count / self.total
            inside = 100 * self.inside[area] / self.total
            out.append(f"{area:<40} {share:>6.1f} {inside:>9.1f}")
        return out


def area_of(frame: str) -> str | None:
    """The area a frame's file belongs to, or None (standard library, unknown)."""
    match = FRAME.search(frame)
    # py-spy shortens paths under site-packages to the package's ("sqlalchemy/engine/…").
    path = "/" + (match.group("path") if match else frame)
    for area, fragments in AREAS:
        if any(fragment in path for fragment in fragments):
            return area
    return None


def breakdown(lines: Iterable[str]) -> Breakdown:
    """Group py-spy raw lines (`stack count`) by area."""
    result = Breakdown()
    for line in lines:
        stack, _, count_text = line.strip().rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        areas = [area_of(frame) for frame in stack.split(";")] if stack else []
        known = [area for area in areas if area is not None]
        own = known[-1] if known else (OTHER if stack else NATIVE)
        if own == "h11 (HTTP parsing)":
            # h11 under httpcore is the outbound client's parser, not the server's.
            own = (
                "outbound HTTP (httpx/httpcore)"
                if "outbound HTTP (httpx/httpcore)" in known
                else "framework (uvicorn/starlette/fastapi)"
            )
        result.total += count
        result.own[own] += count
        for area in set(known) | {own}:
            result.inside[area] += count
    return result


def record(pid: int, output: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Start py-spy sampling `pid` (GIL holders only) for `seconds` into `output`."""
    beside = Path(sys.executable).with_name("py-spy")  # installed in the venv
    return subprocess.Popen(
        [
            str(beside) if beside.exists() else "py-spy",
            "record",
            "--gil",
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(max(1, round(seconds))),
            "--output",
            str(output),
            "--pid",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _function(frame: str) -> str:
    """`function (path)` without the line number, so a function's lines count together."""
    return re.sub(r":\d+\)$", ")", frame)


def top_frames(
    lines: Iterable[str], n: int = 15, *, inclusive: bool = False, within: str = ""
) -> list[tuple[str, float]]:
    """The `n` functions with the most samples, as % of all samples.

    Own samples (the innermost frame) by default; `inclusive` counts a function once for every
    stack it is anywhere on, and `within` keeps only functions whose frame contains that text.
    """
    counts: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.strip().rpartition(" ")
        if not count_text.isdigit() or not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_function(frame) for frame in stack.split(";")]
        chosen = set(frames) if inclusive else {frames[-1]}
        for frame in chosen:
            if within in frame:
                counts[frame] += count
    return [(frame, 100 * c / total) for frame, c in counts.most_common(n)] if total else []
