"""What a therapist reads is Dutch, in the words of docs/begrippen.md: the console's page and
script, the messages the console answers with, and the guide (outside its commands)."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser

from tests.conftest import ROOT

CONSOLE = ROOT / "coach" / "console"
GUIDE = ROOT / "docs" / "handleiding.md"
# English that slipped into Dutch text before (and its like): codes shown as words, untranslated terms
ENGLISH = re.compile(r"\b(the|and|or|outdated|out of range|breath_hold|pelvis_moved|too_weak|too_strong|not_held|"
                     r"off_pbu|admin|error|warning|refused|wrong|please|click|settings|did you mean)\b", re.I)
AVOIDED = re.compile(r"\b(kastje|kastjes|duwen)\b", re.I)   # docs/begrippen.md, the last column


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")
        self.parts += [value for name, value in attrs if name in ("placeholder", "title", "aria-label") and value]

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def page_texts() -> list[str]:
    parser = _Text()
    parser.feed((CONSOLE / "static" / "console.html").read_text(encoding="utf-8"))
    return parser.parts


def script_texts() -> list[str]:
    """The script's string literals that are words for a person (a space in them), not codes."""
    source = (CONSOLE / "static" / "console.js").read_text(encoding="utf-8")
    source = re.sub(r'"(?:[^"\\\n]|\\.)*":', "", source)            # an object's keys: stored codes
    source = re.sub(r'startsWith\("[^"]*"\)', "", source)              # codes looked for, not shown
    literals = re.findall(r'"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`', source)
    texts = [a or b for a, b in literals]
    words = [re.sub(r"\$\{[^}]*\}", "", t) for t in texts if " " in t and not t.startswith(("/", "#", "."))]
    # and every value of the tables that name codes for a person (verdicts, pauses, compensations, the log's)
    words += re.findall(r'\b[a-z_]+: "([^"]+)"', source)
    return words


def message_texts() -> list[str]:
    """The Dutch messages of the console's Python: json_error's and the refusals' message argument."""
    found = []
    for path in CONSOLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                    "json_error", "AccountError", "PatientError", "TakeRefused"):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and " " in arg.value:
                        found.append(arg.value)
                    elif isinstance(arg, ast.JoinedStr):
                        found.append("".join(v.value for v in arg.values if isinstance(v, ast.Constant)))
    return found


def guide_texts() -> list[str]:
    """The guide's prose: its commands (code blocks and `code`) are the shell's, in English."""
    text = GUIDE.read_text(encoding="utf-8")
    text = re.sub(r"^    .*$", "", text, flags=re.M)   # indented command blocks
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r'meldt "[^"]*"( of "[^"]*")?', "meldt", text)   # the journal's own words, quoted
    return [line for line in text.splitlines() if line.strip()]


def test_what_a_therapist_reads_is_dutch():
    english = [text for text in page_texts() + script_texts() + message_texts() + guide_texts()
               if ENGLISH.search(text)]
    assert english == []


def test_one_word_for_each_thing():
    avoided = [text for text in page_texts() + script_texts() + message_texts() + guide_texts()
               if AVOIDED.search(text)]
    assert avoided == []
    assert len(message_texts()) > 40 and len(script_texts()) > 40, "the scan finds the console's words"
