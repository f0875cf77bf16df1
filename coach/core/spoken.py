"""Texts the box says that are made from values, not from the phrase book."""

from __future__ import annotations


def spoken_code(code: str) -> str:
    """The console's setup code as the box says it: one digit per sentence (slow, each with its
    pause), twice. Each digit is a sentence of its own in the phrase cache, so no code is ever
    stored there."""
    digits = " ".join(f"{digit}." for digit in code)
    return f"De code voor de console is: {digits} Ik zeg het nog een keer: {digits}"
