"""docs/api.md's reference, written from the API's own types (coach/api/), so the document cannot
drift from the code: tests/api/test_reference.py fails when they differ.

    python -m coach.api.reference           # print it
    python -m coach.api.reference --write   # put it into docs/api.md, between its markers
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path

from coach.api import methods as api
from coach.api.wire import MEANINGS, ErrorCode, type_name

BEGIN = "<!-- reference: written by `python -m coach.api.reference --write` from coach/api; do not edit -->"
END = "<!-- end of the reference -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _fields(kind: type) -> list[str]:
    hints = typing.get_type_hints(kind)
    rows = []
    for field in dataclasses.fields(kind):
        default = ""
        if field.default is not dataclasses.MISSING:
            default = "null" if field.default is None else repr(field.default)
        rows.append(f"| `{field.name}` | {type_name(hints[field.name])} | {default} |")
    return rows


def _table(kind: type) -> list[str]:
    if not dataclasses.fields(kind):
        return ["none"]
    return ["| field | type | default |", "| --- | --- | --- |", *_fields(kind)]


def _nested(kind: type, seen: dict[str, type]) -> None:
    for hint in typing.get_type_hints(kind).values():
        for part in [hint, *typing.get_args(hint), *(a for arg in typing.get_args(hint) for a in typing.get_args(arg))]:
            if dataclasses.is_dataclass(part) and isinstance(part, type) and part.__name__ not in seen:
                seen[part.__name__] = part
                _nested(part, seen)


def reference() -> str:
    lines = [BEGIN, "", f"API version: **{api.API_VERSION}**.", "", "### Methods", ""]
    types: dict[str, type] = {}
    for method in api.METHODS.values():
        lines += [f"#### `{method.name}`", "", method.doc, ""]
        if method.timeout_s:
            lines += [f"A client waits up to {method.timeout_s:g} s for the answer.", ""]
        lines += [f"Parameters ({method.params.__name__}):", "", *_table(method.params), ""]
        lines += [f"Result: `{method.result.__name__}`.", ""]
        for kind in (method.params, method.result):
            if kind.__name__ not in types and dataclasses.fields(kind):
                types[kind.__name__] = kind
            _nested(kind, types)
    lines += ["### Notifications", "", "`{\"method\": NAME, \"params\": ..., \"seq\": N}`, to subscribers; `seq` "
              "counts up by one per notification.", "", "| name | params |", "| --- | --- |"]
    for name, kind in api.NOTIFICATIONS.items():
        shape = "an event object (CONTRACT.md section 5)" if kind is dict else f"`{kind.__name__}`"
        lines.append(f"| `{name}` | {shape} |")
        if kind is not dict:
            types.setdefault(kind.__name__, kind)
            _nested(kind, types)
    lines += ["", "### Types", ""]
    results = {m.result.__name__ for m in api.METHODS.values()}
    for name in sorted(types, key=lambda n: (n not in results, n)):
        lines += [f"#### `{name}`", "", *_table(types[name]), ""]
    lines += ["### Error codes", "", "| code | meaning |", "| --- | --- |"]
    lines += [f"| `{code.value}` | {MEANINGS[code]} |" for code in ErrorCode]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def embedded(text: str) -> str:
    """The reference as docs/api.md holds it."""
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN):text.index(END) + len(END)] + "\n"


def write(path: Path = DOC) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    path.write_text(text[:start] + reference() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.stdout.write(reference())
