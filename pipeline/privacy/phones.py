"""Phone numbers however people write them, shared by the rule that finds them and the check
that lets organisations' service numbers through."""

from __future__ import annotations

import regex

_SPOKEN = {
    "oh": "0", "zero": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_REPEAT = {"double": 2, "triple": 3, "treble": 3}
SPOKEN_ITEM = rf"(?:(?:{'|'.join(_REPEAT)})[\s\-]*)?(?:{'|'.join(_SPOKEN)}|\d+)"


def phone_digits(text: str) -> str:
    """The digits of a phone number however it is written: "07700 900123", "0 7 7 ...",
    "oh seven seven double-oh 900 321"."""
    out, repeat = [], 1
    for token in regex.findall(r"[a-z]+|\d", text.lower()):
        if token in _REPEAT:
            repeat = _REPEAT[token]
            continue
        digit = token if token.isdigit() else _SPOKEN.get(token)
        if digit is not None:
            out.append(digit * repeat)
            repeat = 1
    return "".join(out)


def uk_number(digits: str) -> bool:
    """A UK subscriber number: 0 and 9-10 more digits, or 44 and 9-10 more."""
    return (digits.startswith("0") and len(digits) in (10, 11)) or (
        digits.startswith("44") and len(digits) in (11, 12)
    )
