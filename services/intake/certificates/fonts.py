"""The fonts a printed certificate is set in: Noto Serif CJK SC from Debian's
``fonts-noto-cjk`` (the look of an official 宋体 certificate), subset and cached, with
fallbacks for the rare characters of names.

The ``.ttc`` holds five faces (JP, KR, SC, TC, HK); the Simplified Chinese one is found by its
name table, never assumed to be at an index (index 0 is Japanese, whose punctuation sits in
the middle of its box). Reading that face whole costs fpdf2 about 0.9 s a certificate, so it
is made once into a smaller TrueType font under ``var/fonts/`` (CB_FONTS_DIR): GB 2312's
characters, ASCII, Latin-1 and the punctuation, its CFF outlines converted to quadratic ones,
which fpdf2 embeds faster and every PDF reader reads back (pypdf misreads the CFF fonts
fpdf2 writes). The subset of the whole Basic Multilingual Plane's CJK (28,000 glyphs) cost
about 1.1 s of CPU a certificate, GB 2312's a fraction of that. The first use in a process makes it
if it is missing (a file lock keeps two processes from making it at once); ``make fonts``
makes it beforehand.

Characters the subset lacks (堃, 喆, 珺, common in names; 䶮 of Extension A, 𠮷 U+20BB7 of
Extension B) come from the full Noto SC face (all of the BMP's, 2,057 of Extension B's),
then from HanaMin A/B (Debian's ``fonts-hanazono``, which covers Extensions A to F),
added to a document only when its text needs them. A text with a character no font has is
refused (``MissingGlyphs``): fpdf2 itself would only log it and print a blank.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.intake.certificates.errors import CertificateError

NOTO_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/opentype/noto-cjk"))
HANAZONO_DIRS = (Path("/usr/share/fonts/truetype/hanazono"),)
FAMILY = "Noto Serif CJK SC"
SOURCES = {"": "NotoSerifCJK-Regular.ttc", "B": "NotoSerifCJK-Bold.ttc"}
RECIPE = 2  # made again when this changes (what is kept, how it is converted)
# Whitespace and controls print nothing and need no glyph.
INVISIBLE = frozenset(range(0x21)) | {0x7F, 0xA0, 0x3000}


class MissingGlyphs(CertificateError):
    """Characters no available font can print."""

    def __init__(self, characters: Iterable[str]) -> None:
        self.characters = "".join(sorted(set(characters)))
        listed = " ".join(f"{c} (U+{ord(c):04X})" for c in self.characters)
        super().__init__("MISSING_GLYPHS", f"no font can print {listed}")


@dataclass(frozen=True)
class Face:
    """One font file (a face of a collection at ``index``) and the characters it has."""

    family: str  # the name fpdf2 knows it by
    path: Path
    index: int
    codepoints: frozenset[int]


@dataclass(frozen=True)
class Fonts:
    """The subset faces (regular and bold) and the fallbacks, in the order they are tried."""

    regular: Face
    bold: Face
    fallbacks: tuple[Face, ...]

    def missing(self, text: str) -> set[str]:
        """The characters of ``text`` that neither the subset nor any fallback has."""
        return {
            c
            for c in set(text)
            if ord(c) not in INVISIBLE
            and ord(c) not in self.regular.codepoints
            and not any(ord(c) in f.codepoints for f in self.fallbacks)
        }

    def needed_fallbacks(self, text: str) -> tuple[Face, ...]:
        """The fallbacks ``text`` needs (none for most): each costs a parse and a subset."""
        rest = {ord(c) for c in text} - self.regular.codepoints - self.bold.codepoints
        rest -= INVISIBLE
        needed = []
        for face in self.fallbacks:
            if rest & face.codepoints:
                needed.append(face)
                rest -= face.codepoints
        return tuple(needed)


def find_face(path: Path, family: str) -> int:
    """The index in the collection ``path`` of the face whose family name is ``family``."""
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    for index, font in enumerate(collection.fonts):
        if font["name"].getDebugName(1) == family:
            return index
    raise LookupError(f"{path} has no face named {family!r}")


def _find(dirs: Iterable[Path], name: str) -> Path | None:
    return next((d / name for d in dirs if (d / name).is_file()), None)


def gb2312() -> set[int]:
    """The characters of GB 2312 (its 6,763 hanzi and its symbols), from Python's codec."""
    found = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                found.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return found


def subset_codepoints() -> set[int]:
    """What the subset keeps (of what the face has): GB 2312, ASCII, Latin-1, punctuation."""
    keep = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100)) | gb2312()
    for start, end in (
        (0x2000, 0x2070),  # general punctuation: — ‘ ’ “ ” …
        (0x2100, 0x2200),  # letterlike and number forms: № Ⅰ
        (0x2460, 0x2500),  # ① ②
        (0x3000, 0x3040),  # CJK punctuation: 。 、 「 」 《 》
        (0xFF00, 0xFFF0),  # full-width forms: ， ： （ ）
    ):
        keep.update(range(start, end))
    return keep


def make_subset(source: Path, index: int, target: Path) -> None:
    """Write the subset of face ``index`` of ``source`` as a TrueType font at ``target``."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source), fontNumber=index, lazy=False)
    options = subset.Options()
    options.layout_features = []  # horizontal Chinese needs no substitution
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=subset_codepoints() & set(font.getBestCmap()))
    subsetter.subset(font)
    _cff_to_glyf(font)
    tmp = target.with_suffix(".tmp")
    font.save(str(tmp))
    os.replace(tmp, target)


def _cff_to_glyf(font: Any) -> None:
    """CFF (cubic) outlines to ``glyf`` (quadratic), after fontTools' otf2ttf snippet."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        hmtx[name] = (hmtx[name][0], getattr(glyph, "xMin", 0))
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    maxp.compile(font)
    post = font["post"]
    post.formatType = 3.0  # no glyph names: reading 7,000 of them is most of a parse
    font.sfntVersion = "\x00\x01\x00\x00"


def _codepoints(path: Path, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(str(path), fontNumber=index, lazy=True)
    return frozenset(font.getBestCmap())


def _stamp(source: Path, index: int) -> str:
    stat = source.stat()
    text = f"{RECIPE}:{source}:{stat.st_size}:{stat.st_mtime_ns}:{index}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _prepared(directory: Path, style: str) -> Face:
    source = _find(NOTO_DIRS, SOURCES[style])
    if source is None:
        raise FileNotFoundError(
            f"{SOURCES[style]} not found: install Debian's fonts-noto-cjk (make packages)"
        )
    index = find_face(source, FAMILY)
    target = directory / f"NotoSerifCJKsc-{style or 'R'}-{_stamp(source, index)}.ttf"
    cmap_file = target.with_suffix(".json")
    if not (target.is_file() and cmap_file.is_file()):
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target.is_file() and cmap_file.is_file()):
                make_subset(source, index, target)
                codes = sorted(_codepoints(target, 0))
                cmap_file.write_text(json.dumps(codes))
    codepoints = frozenset(json.loads(cmap_file.read_text()))
    return Face(f"serif{style}", target, 0, codepoints)


def _fallbacks(directory: Path) -> tuple[Face, ...]:
    faces = []
    source = _find(NOTO_DIRS, SOURCES[""])
    if source is not None:
        index = find_face(source, FAMILY)
        faces.append(Face("noto-full", source, index, _cached_cmap(directory, source, index)))
    for n, name in enumerate(("HanaMinA.ttf", "HanaMinB.ttf")):
        path = _find(HANAZONO_DIRS, name)
        if path is not None:
            faces.append(Face(f"hanamin{n}", path, 0, _cached_cmap(directory, path, 0)))
    return tuple(faces)


def _cached_cmap(directory: Path, path: Path, index: int) -> frozenset[int]:
    """The characters a (large) font has, read once and kept beside the subsets."""
    cache = directory / f"cmap-{path.stem}-{_stamp(path, index)}.json"
    if cache.is_file():
        return frozenset(json.loads(cache.read_text()))
    codes = _codepoints(path, index)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sorted(codes)))
    os.replace(tmp, cache)
    return codes


@functools.cache
def prepared(directory: Path) -> Fonts:
    """The fonts, made under ``directory`` if they are not there yet (once per process)."""
    return Fonts(_prepared(directory, ""), _prepared(directory, "B"), _fallbacks(directory))


def main() -> None:
    """``python -m services.intake.certificates.fonts``: make the fonts beforehand."""
    from shared.settings import load_settings

    directory = Path(load_settings("intake").fonts_dir)
    fonts = prepared(directory)
    for face in (fonts.regular, fonts.bold, *fonts.fallbacks):
        print(f"{face.family}: {face.path} [{face.index}], {len(face.codepoints)} characters")


if __name__ == "__main__":
    main()
