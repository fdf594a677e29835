"""Chinese line breaking (禁则, after GB/T 15834 and W3C's clreq): a line may break between
any two Chinese characters, but none starts with a closing mark (，。、；：？！）」』》〉…)
and none ends with an opening one (（「『《〈…). A run of Latin letters and digits (a code,
a number, a URL) stays whole unless it is longer than a line. fpdf2 knows none of this:
its CHAR mode breaks anywhere, its WORD mode only at spaces."""

from __future__ import annotations

import re
from collections.abc import Callable

NO_START = frozenset(
    "，。、；：？！）」』》〉】〕〗〙〛｝］’”…‥·・～—％‰℃°"
    ",.;:?!)]}%"  # half-width, as they come in mixed text
    "ゝゞ々〻ー"
)
NO_END = frozenset("（「『《〈【〔〖〘〚｛［‘“([{$￥¥")
# Kept whole: a word of Latin letters and digits, with what joins its parts (1.5, E12, a URL).
RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/:#%@?=&+~*]*|[ \t]+|.", re.S)
SPACE = " \t"


def tokens(text: str) -> list[str]:
    """``text`` cut where a line may break: each Chinese character alone, each Latin run
    whole, each stretch of spaces."""
    return RUN.findall(text)


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """``text`` as lines no wider than ``width`` (by ``measure``) wherever the rules allow
    (a line wider only when one unbreakable run is), none starting with a closing mark or
    ending with an opening one. Spaces at a break are dropped; newlines break."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap(tokens(paragraph), width, measure) or [""])
    return lines


def _wrap(parts: list[str], width: float, measure: Callable[[str], float]) -> list[str]:
    parts, free = _split_long(parts, width, measure)
    lines: list[str] = []
    start = 0
    while start < len(parts):
        end = _fill(parts, start, width, measure)
        end = _adjust(parts, start, end, free)
        line = "".join(parts[start:end]).strip(SPACE)
        if line:
            lines.append(line)
        start = end
        while start < len(parts) and not parts[start].strip(SPACE):
            start += 1
    return lines


def _fill(parts: list[str], start: int, width: float, measure: Callable[[str], float]) -> int:
    """The end of the longest line from ``start`` that fits (one part at least)."""
    end = start + 1
    while end < len(parts) and measure("".join(parts[start : end + 1]).rstrip(SPACE)) <= width:
        end += 1
    return end


def _adjust(parts: list[str], start: int, end: int, free: set[int]) -> int:
    """Move the break back until the next line does not start with a closing mark and this
    one does not end with an opening mark; when no break in the line allows that, let the
    line run on past its width until one does."""
    if end >= len(parts):
        return end
    candidate = end
    while candidate > start + 1 and not _allowed(parts, start, candidate, free):
        candidate -= 1
    if _allowed(parts, start, candidate, free):
        return candidate
    candidate = end
    while candidate < len(parts) and not _allowed(parts, start, candidate, free):
        candidate += 1
    return candidate


def _allowed(parts: list[str], start: int, end: int, free: set[int]) -> bool:
    if end >= len(parts) or end in free:
        return True
    head = parts[end].lstrip(SPACE)[:1] or _next_char(parts, end)
    tail = "".join(parts[start:end]).rstrip(SPACE)[-1:]
    return head not in NO_START and tail not in NO_END and bool(tail)


def _next_char(parts: list[str], index: int) -> str:
    for part in parts[index:]:
        if part.strip(SPACE):
            return part.strip(SPACE)[0]
    return ""


def _split_long(
    parts: list[str], width: float, measure: Callable[[str], float]
) -> tuple[list[str], set[int]]:
    """A Latin run wider than a line (a long URL) cut into pieces that fit, and where the
    cuts are (a break there is always allowed: inside a URL, a "." may start a line)."""
    result: list[str] = []
    free: set[int] = set()
    for part in parts:
        if len(part) > 1 and part.strip(SPACE) and measure(part) > width:
            piece = ""
            for char in part:
                if piece and measure(piece + char) > width:
                    result.append(piece)
                    free.add(len(result))
                    piece = ""
                piece += char
            result.append(piece)
        else:
            result.append(part)
    return result, free


def check(lines: list[str]) -> list[str]:
    """The lines that break the rules (for tests): starting closed or ending open. A piece of
    a Latin run cut to fit (a URL going on after a line's last letter) may start with
    ". : /", where no rule forbids a break."""
    wrong = []
    for before, line in zip(["", *lines], lines, strict=False):
        if not line:
            continue
        continued = before[-1:].isascii() and before[-1:].isalnum() and line[0] in ".:/-_"
        if (line[0] in NO_START and not continued) or line[-1] in NO_END:
            wrong.append(line)
    return wrong
