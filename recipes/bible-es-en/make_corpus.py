"""Verse-aligned Spanish-English Bible corpus from two SWORD modules dumped with `mod2imp`.

    python3 make_corpus.py SPANISH.imp ENGLISH.imp OUTDIR

Writes OUTDIR/{train,dev,test}.{es,en}, one verse a line, line-aligned, and OUTDIR/stats.json.
Standard library only (no nmt needed). Verses are paired by reference (both modules use the KJV
versification); a verse that is empty on either side after cleaning is left out. Splits are by book,
so dev and test are not near-copies of train verses:

- dev: Joshua, Philippians, Colossians, 1-2 Thessalonians;
- test: Ruth, Esther, Ecclesiastes, Lamentations, Jonah, Micah, Habakkuk, Galatians, James, 1 Peter, Jude;
- train: every other canonical book (deuterocanonical books exist only in the English module).

Cleaning: footnotes (<note>), non-canonical headings, speaker labels and everything after a chapter's end
marker are dropped; canonical psalm titles are kept (the Spanish text has them in verse 1 too); all other
markup is removed, keeping word boundaries; NFC; whitespace collapsed. The `nmt prepare` step after this
does the generic cleaning (length ratios, duplicates...) and reports it.
"""

from __future__ import annotations

import html
import json
import re
import sys
import unicodedata
from pathlib import Path

DEV = {"Joshua", "Philippians", "Colossians", "I Thessalonians", "II Thessalonians"}
TEST = {
    "Ruth",
    "Esther",
    "Ecclesiastes",
    "Lamentations",
    "Jonah",
    "Micah",
    "Habakkuk",
    "Galatians",
    "James",
    "I Peter",
    "Jude",
}
KEY = re.compile(r"^\$\$\$(.+?) (\d+):(\d+)$")
DROP = [
    re.compile(r"<note\b[^>]*>.*?</note>", re.S),
    re.compile(r"<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>", re.S),
    re.compile(r"<speaker\b[^>]*>.*?</speaker>", re.S),
]
# Enclitic pronouns that RV1909 marks as added words right after their verb ("Júrame" + "lo").
ENCLITIC = re.compile(r"(?<=\w)<transChange[^>]*>(lo|la|le|los|las|les|me|te|se|nos|os)</transChange>")
TAG = re.compile(r"<[^>]+>")


def clean(text: str) -> str:
    text = text.split("<chapter eID=", 1)[0]
    for pattern in DROP:
        text = pattern.sub(" ", text)
    text = ENCLITIC.sub(r"\1", text)
    text = re.sub(r"</w>(?=<)", "</w> ", text)  # adjacent words keep a boundary
    text = re.sub(r"</?transChange[^>]*>", " ", text)
    text = html.unescape(TAG.sub("", text))
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    return re.sub(r" ([.,;:!?»”’)])", r"\1", text)


def read_imp(path: Path) -> dict[tuple[str, int, int], str]:
    """(book, chapter, verse) -> clean text, for verses >= 1."""
    verses: dict[tuple[str, int, int], str] = {}
    key, lines = None, []
    with open(path, encoding="utf-8") as fh:
        for line in [*fh, "$$$[ end ]\n"]:
            if line.startswith("$$$"):
                if key is not None:
                    verses[key] = clean(" ".join(lines))
                match = KEY.match(line.rstrip("\n"))
                key = (match[1], int(match[2]), int(match[3])) if match and int(match[3]) > 0 else None
                lines = []
            else:
                lines.append(line.rstrip("\n"))
    return verses


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.split("\n\n")[1])
    spanish, english, out = read_imp(Path(sys.argv[1])), read_imp(Path(sys.argv[2])), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    missing = 0
    for key, es in spanish.items():  # canonical order of the Spanish module
        en = english.get(key, "")
        if not es or not en:
            missing += 1
            continue
        book = key[0]
        splits["dev" if book in DEV else "test" if book in TEST else "train"].append((es, en))
    for name, pairs in splits.items():
        for lang, side in (("es", 0), ("en", 1)):
            with open(out / f"{name}.{lang}", "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(p[side].replace("\n", " ") + "\n" for p in pairs)
    stats = {name: len(pairs) for name, pairs in splits.items()}
    stats["left_out_empty_or_unpaired"] = missing
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(f"bible-es-en: {stats}", file=sys.stderr)


if __name__ == "__main__":
    main()
