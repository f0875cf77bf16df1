"""Draw the coaching state machine (from its one table in coach.core.coach) as a Mermaid diagram.

    python -m coach.app.diagram > docs/state-machine.md
"""

from coach.core.coach import STATES, TRANSITIONS

EVERYWHERE = 5   # a trigger from this many states or more is written once, as a note


def mermaid() -> str:
    lines = ["stateDiagram-v2", "    [*] --> waiting"]
    notes = []
    for trigger, sources, dest in TRANSITIONS:
        sources = [sources] if isinstance(sources, str) else sources
        if len(sources) >= EVERYWHERE and len(sources) == len(STATES) - 1:
            notes.append(f"    note right of {dest}: {trigger} from every other state")
            continue
        for source in sources:
            lines.append(f"    {source} --> {dest}: {trigger}")
    lines += notes
    lines.append("    done --> [*]")
    return "\n".join(lines)


def document() -> str:
    return (
        "# The coaching state machine\n\n"
        "Generated from the table in `coach/core/coach.py` by `python -m coach.app.diagram`;\n"
        "a test keeps this picture in step with the code.\n\n"
        f"States: {', '.join(STATES)}.\n\n"
        "```mermaid\n" + mermaid() + "\n```\n"
    )


if __name__ == "__main__":
    print(document(), end="")
