"""What espeak-ng says wrongly in the coach's Dutch, and how it is made to say it right.

The phrase book keeps correct Dutch spelling (the therapist reads it, records it in their own
voice, and sees it in the events); only the text handed to espeak-ng is changed, in espeak-ng's
own phoneme input (`[[...]]`, its Kirshenbaum-style codes, read with its PHONEMES flag), checked
against `espeak-ng -x` in tests/adapters/test_pronunciation.py:

- "linkerarm", "rechterarm": espeak-ng reads "linker" as LIN-keer (l'INkI:r); the compound is
  LINker-arm, with a schwa (l'INk@r,Arm). The other limbs of the exercises (been, hiel, knie,
  voet) it stresses on the limb; a Dutch compound has its stress on the first part.
- "therapeut": stressed on the last syllable (te-ra-PEUT, t,e:ra:p'Y:t), not the first.
- "Eén." (the count-down's "one"): the capital É is read as a second vowel (e:e:n); "Één" is one.
"""

from __future__ import annotations

import re

SIDE = {"linker": "l'INk@r", "rechter": "r'Ext@r"}
LIMB = {"arm": "Arm", "been": "be:n", "hiel": "hil", "knie": "kni", "voet": "vut"}
_SIDED_LIMB = re.compile(r"\b(linker|rechter)(arm|been|hiel|knie|voet)\b", re.IGNORECASE)
_THERAPIST = re.compile(r"\btherapeut\b", re.IGNORECASE)
_ONE = re.compile(r"\bEén\b")

# Part of every synthesised sentence's cache key: a change here renders the sentences again.
VERSION = "nl-1"


def spoken_form(text: str) -> str:
    """`text` as espeak-ng is to read it (with phoneme input where its own reading is wrong)."""
    text = _SIDED_LIMB.sub(lambda m: f"[[{SIDE[m[1].lower()]},{LIMB[m[2].lower()]}]]", text)
    text = _THERAPIST.sub("[[t,e:ra:p'Y:t]]", text)
    return _ONE.sub("Één", text)
