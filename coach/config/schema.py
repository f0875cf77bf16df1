"""A small typed schema for YAML files that reports every problem with its file and line.

Why not a generic validator library: the therapist needs `FILE:LINE: field: problem (allowed)`,
and line numbers live only in PyYAML's node tree, which general schema libraries never see.
So we validate the composed nodes directly (the Mopidy and Klipper way: typed options, a
"did you mean" for unknown keys, and a clear range message).
"""

from __future__ import annotations

import abc
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class Problems:
    """Collects all problems of one file, so the user sees them at once."""

    filename: str
    items: list[str] = field(default_factory=list)

    def add(self, node: yaml.Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        where = f"{path}: " if path else ""
        self.items.append(f"{self.filename}:{line}: {where}{message}")


class Spec(abc.ABC):
    """One expected shape of a YAML node. `check` returns the plain Python value (or None on a problem)."""

    @abc.abstractmethod
    def check(self, node: yaml.Node, path: str, problems: Problems) -> Any:
        """Validate `node`, record problems, return the value."""


def _scalar(node: yaml.Node) -> Any:
    """The plain value of a scalar node, as `yaml.safe_load` would give it: the composer has
    resolved its tag already, so it is constructed directly (serialising it and parsing it
    again cost two thirds of loading the protocols, and the daemon validates a therapist's
    choice of programme in its main loop)."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        # a new constructor each time: one kept would remember every node it ever built
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError:  # e.g. a merge key '<<' or an unknown tag: not a plain value
        return str(node.value)


@dataclass
class Number(Spec):
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    unit: str = ""

    def allowed(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {self.minimum:g} to {self.maximum:g}{unit}"
        if self.minimum is not None:
            return f"{kind} of at least {self.minimum:g}{unit}"
        return kind

    def check(self, node, path, problems):
        value = _scalar(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            self.integer and not isinstance(value, int)
        ) or not math.isfinite(value):   # .nan and .inf would pass every range check
            problems.add(node, path, f"{_show(node)} is not {self.allowed()}")
            return None
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            problems.add(node, path, f"{value:g} is out of range ({self.allowed()})")
            return None
        return value


@dataclass
class Text(Spec):
    choices: tuple[str, ...] = ()
    nonempty: bool = True

    def check(self, node, path, problems):
        value = _scalar(node)
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            problems.add(node, path, f"{_show(node)} is not a text (expected some words in quotes or plain)")
            return None
        if self.choices and value not in self.choices:
            hint = _did_you_mean(value, self.choices)
            problems.add(node, path, f"'{value}' is not allowed{hint} (one of: {', '.join(self.choices)})")
            return None
        return value.strip()


@dataclass
class Boolean(Spec):
    def check(self, node, path, problems):
        value = _scalar(node)
        if not isinstance(value, bool):
            problems.add(node, path, f"{_show(node)} is not yes/no (true or false)")
            return None
        return value


@dataclass
class ListOf(Spec):
    item: Spec
    min_items: int = 0

    def check(self, node, path, problems):
        if isinstance(node, yaml.ScalarNode) and isinstance(self.item, Text):
            # A single sentence where a list is expected is what a therapist would write.
            value = self.item.check(node, path, problems)
            return None if value is None else [value]
        if not isinstance(node, yaml.SequenceNode):
            problems.add(node, path, "expected a list (lines starting with '- ')")
            return None
        if len(node.value) < self.min_items:
            problems.add(node, path, f"needs at least {self.min_items} item(s)")
        values = [self.item.check(child, f"{path}[{i}]", problems) for i, child in enumerate(node.value)]
        return None if any(v is None for v in values) else values


@dataclass
class MapOf(Spec):
    """A mapping whose keys are named by the data (e.g. phrase keys) with values of one shape.

    `keys`, when given, is the closed set of keys that mean something (a misspelt one would be
    accepted and never used); `keys_are` says in the error what they are."""

    value: Spec
    keys: tuple[str, ...] = ()
    keys_are: str = "key"

    def check(self, node, path, problems):
        if not isinstance(node, yaml.MappingNode):
            problems.add(node, path, "expected a section of 'key: value' lines")
            return None
        out: dict[str, Any] = {}
        bad = False
        for key_node, value_node in node.value:
            key = str(_scalar(key_node))
            if self.keys and key not in self.keys:
                hint = _did_you_mean(key, self.keys)
                known = ("the coach only says the keys of protocols/phrases.yaml" if self.keys_are == "phrase key"
                         else f"one of: {', '.join(self.keys)}")
                problems.add(key_node, _join(path, key), f"unknown {self.keys_are}{hint} ({known})")
                bad = True
                continue
            out[key] = self.value.check(value_node, _join(path, key), problems)
        return None if bad or any(v is None for v in out.values()) else out


@dataclass
class OneOf(Spec):
    """A value of the first shape, or (a mapping) of the second: a phrase's wordings, or its
    wordings per position."""

    plain: Spec
    mapping: Spec

    def check(self, node, path, problems):
        spec = self.mapping if isinstance(node, yaml.MappingNode) else self.plain
        return spec.check(node, path, problems)


@dataclass
class ByVariant(Spec):
    """Values per variant (a phrase per position): only the named variants, and either the
    default one or at least `complete` of them, so no position is left without words."""

    value: Spec
    variants: tuple[str, ...]
    default: str
    complete: int

    def check(self, node, path, problems):
        out = MapOf(self.value, keys=self.variants, keys_are="position").check(node, path, problems)
        if out is None:
            return None
        if self.default not in out and len(out) < self.complete:
            missing = [v for v in self.variants if v not in out and v != self.default]
            problems.add(node, path, f"no wording for {', '.join(missing)}: name them, or give '{self.default}' "
                                     "for the positions not named")
            return None
        return out


@dataclass
class Record(Spec):
    """A mapping with known keys: required ones, optional ones with defaults, nothing else."""

    fields: dict[str, tuple[Spec, bool]]  # name -> (spec, required)
    defaults: dict[str, Any] = field(default_factory=dict)

    def check(self, node, path, problems):
        if not isinstance(node, yaml.MappingNode):
            problems.add(node, path, "expected a section of 'key: value' lines")
            return None
        out: dict[str, Any] = {}
        bad = False
        seen = set()
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str) or key not in self.fields:
                hint = _did_you_mean(str(key), self.fields)
                problems.add(key_node, _join(path, str(key)),
                             f"unknown key{hint} (allowed: {', '.join(self.fields)})")
                bad = True
                continue
            if key in seen:
                problems.add(key_node, _join(path, key), "appears twice (give each key once)")
                bad = True
            seen.add(key)
            spec, _required = self.fields[key]
            value = spec.check(value_node, _join(path, key), problems)
            bad |= value is None
            out[key] = value
        for name, (_spec, required) in self.fields.items():
            if name in out:
                continue
            if required:
                problems.add(node, _join(path, name), "is missing (this field is required)")
                bad = True
            elif name in self.defaults:
                out[name] = self.defaults[name]
        return None if bad else out


@dataclass
class Tagged(Spec):
    """A mapping whose `tag` field (e.g. `kind`) chooses which Record it must match."""

    tag: str
    variants: dict[str, Record]
    default: str

    def check(self, node, path, problems):
        if not isinstance(node, yaml.MappingNode):
            problems.add(node, path, "expected a section of 'key: value' lines")
            return None
        value = self.default
        for key_node, value_node in node.value:
            if _scalar(key_node) == self.tag:
                value = _scalar(value_node)
                if value not in self.variants:
                    hint = _did_you_mean(str(value), self.variants)
                    problems.add(value_node, _join(path, self.tag), f"'{value}' is not allowed{hint} "
                                 f"(one of: {', '.join(self.variants)})")
                    return None
        return self.variants[value].check(node, path, problems)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return f"'{node.value}'"
    return "a list" if isinstance(node, yaml.SequenceNode) else "a section"


def closest(word: str, options) -> str | None:
    """The option a misspelt `word` most likely meant (Mopidy's "did you mean ...?"), or None."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(word: str, options) -> str:
    close = closest(word, options)
    return f"; did you mean '{close}'?" if close else ""


def decode_text(data: bytes, filename: str) -> str:
    """A file's bytes as UTF-8 text; a byte that is not UTF-8 is a one-line problem at its line."""
    from coach.errors import ProtocolError

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ProtocolError([f"{filename}:{line}: not valid YAML: byte 0x{data[exc.start]:02x} is not "
                             "UTF-8 text (save the file as plain text, UTF-8)"]) from None


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)   # None where PyYAML was built without libyaml


def load_nodes(text: str, filename: str) -> yaml.Node | None:
    """Compose YAML into nodes (keeping line numbers); a syntax error becomes a one-line problem.

    Where the parser names a flow construct it was in (a flow sequence opened with '[' but never
    closed, say), the line given is where that construct starts: the parser itself gives up
    lines further on, often at the end of the file, which is not where the therapist should look.
    In a block mapping or sequence, the line given is the one that breaks it, with the block's
    first line as context."""
    from coach.errors import ProtocolError

    if _FAST_LOADER is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        # libyaml composes a well-formed file ten times faster (the daemon checks a therapist's
        # programme in its main loop); its nodes carry the same tags and line numbers. A file it
        # refuses is composed again below, so every syntax error is told in the same words.
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        problem_line = exc.problem_mark.line + 1 if exc.problem_mark else None
        context_line = exc.context_mark.line + 1 if exc.context_mark else None
        if context_line is not None and problem_line is not None and context_line < problem_line:
            construct = str(exc.context).removeprefix("while parsing ")
            if construct.startswith(("a block", "a node")):
                # A block mapping or sequence ends where the indentation does: the parser's
                # complaint is at the line that breaks it (a stray '- ', a wrong indent), and the
                # mapping's first line only says which one it broke.
                raise ProtocolError([f"{filename}:{problem_line}: not valid YAML: {exc.problem} (in {construct} "
                                     f"that starts at line {context_line})"]) from None
            # a flow collection or a quoted text opened and never closed: the parser gives up
            # lines further on, often at the end of the file; where it was opened is the fault
            raise ProtocolError([f"{filename}:{context_line}: not valid YAML: {construct} that starts here "
                                 f"is not complete ({exc.problem} at line {problem_line})"]) from None
        line = problem_line or context_line or 1
        raise ProtocolError([f"{filename}:{line}: not valid YAML: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        # The reader refuses characters YAML does not allow (a NUL byte, a control character)
        # before any line is parsed: it knows only the position, so count the lines to it.
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        character = getattr(exc, "character", None)
        if isinstance(character, str):
            character = ord(character)
        what = (f"character #x{character:04x}{' (a NUL byte)' if character == 0 else ''} is not "
                "allowed in a text file") if isinstance(character, int) else str(exc).splitlines()[0]
        raise ProtocolError([f"{filename}:{line}: not valid YAML: {what} (was the file saved as "
                             "plain text, UTF-8?)"]) from None
