"""Every setting the app reads is documented where operators look: README and .env.example."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentora.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted((field.alias or name).upper() for name, field in Settings.model_fields.items())


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    """Each environment variable `Settings` reads appears in the document by name."""
    text = (ROOT / document).read_text()
    missing = [name for name in NAMES if name not in text]
    assert not missing, f"{document} does not mention {missing}"
