"""docs/api.md cannot drift from the API: its reference is the one the types write."""

from __future__ import annotations

from coach.api.reference import DOC, embedded, reference


def test_the_documented_api_is_the_typed_api():
    assert embedded(DOC.read_text(encoding="utf-8")) == reference(), \
        "docs/api.md differs from coach/api: run `python -m coach.api.reference --write`"
