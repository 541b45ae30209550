#!/usr/bin/env python3
"""Writes core/unicode.cpp's data tables as C++ from the Unicode Character Database.

    gen_unicode_tables.py UCD_DIR OUTPUT.cpp

UCD_DIR is Debian's unicode-data (/usr/share/unicode): UnicodeData.txt,
DerivedNormalizationProps.txt, PropList.txt and DerivedCoreProperties.txt.
CMake runs this at build time (see CMakeLists.txt); the output goes to the
build directory and is compiled into core. Python 3 standard library only.

Tables (all uint32_t, sorted, searched by core/unicode.cpp):
  kCategoryRuns      first << 3 | major general category (C L M N P S Z as 0..6): a
                     run-length map of the code space
  kWordRuns          first << 1 | is_word: Alphabetic, marks, Nd, Pc, Join_Control (regex \\w)
  kWhiteSpaceRuns    first << 1 | White_Space
  kCombiningRuns     first << 8 | canonical combining class
  kCanonical*        full canonical decompositions (Hangul syllables excepted)
  kCompositions      (first, second, composite) triples for canonical composition
"""
import os
import re
import sys

# Major general categories in the order of core/unicode.h's Category enum.
CATEGORIES = "CLMNPSZ"
MAX_CP = 0x10FFFF


def read_unicode_data(path):
    """code point -> (category, combining class, decomposition field)."""
    data = {}
    range_start = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 15:
                continue
            cp = int(fields[0], 16)
            name, category, ccc, decomposition = fields[1], fields[2], int(fields[3]), fields[5]
            if name.endswith(", First>"):
                range_start = cp
                continue
            if name.endswith(", Last>"):
                for c in range(range_start, cp + 1):
                    data[c] = (category, ccc, "")
                range_start = None
                continue
            data[cp] = (category, ccc, decomposition)
    return data


def read_property(path, prop):
    """Set of code points listed with property `prop` in a PropList-style file."""
    result = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            cps, name = [part.strip() for part in line.split(";")[:2]]
            if name != prop:
                continue
            if ".." in cps:
                first, last = (int(x, 16) for x in cps.split(".."))
            else:
                first = last = int(cps, 16)
            result.update(range(first, last + 1))
    return result


def runs(value_of):
    """[(first, value)] where value_of changes, over the whole code space."""
    out = []
    previous = None
    for cp in range(MAX_CP + 1):
        value = value_of(cp)
        if value != previous:
            out.append((cp, value))
            previous = value
    return out


def parse_mapping(field):
    """(is_compat, [code points]) from a UnicodeData decomposition field."""
    if not field:
        return None
    parts = field.split()
    compat = parts[0].startswith("<")
    if compat:
        parts = parts[1:]
    return compat, [int(p, 16) for p in parts]


def main():
    ucd, output = sys.argv[1], sys.argv[2]
    data = read_unicode_data(os.path.join(ucd, "UnicodeData.txt"))
    exclusions = read_property(os.path.join(ucd, "DerivedNormalizationProps.txt"), "Full_Composition_Exclusion")
    white_space = read_property(os.path.join(ucd, "PropList.txt"), "White_Space")
    join_control = read_property(os.path.join(ucd, "PropList.txt"), "Join_Control")
    alphabetic = read_property(os.path.join(ucd, "DerivedCoreProperties.txt"), "Alphabetic")
    version = "unknown"
    with open(os.path.join(ucd, "DerivedCoreProperties.txt"), encoding="utf-8") as f:
        match = re.search(r"DerivedCoreProperties-([0-9.]+)\.txt", f.readline())
        if match:
            version = match.group(1)

    def category(cp):
        entry = data.get(cp)
        return CATEGORIES.index(entry[0][0]) if entry else 0

    def is_word(cp):
        entry = data.get(cp)
        cat = entry[0] if entry else "Cn"
        return int(cp in alphabetic or cat[0] == "M" or cat in ("Nd", "Pc") or cp in join_control)

    category_runs = runs(category)
    word_runs = runs(is_word)
    space_runs = runs(lambda cp: int(cp in white_space))
    ccc_runs = runs(lambda cp: data[cp][1] if cp in data else 0)

    mappings = {cp: parse_mapping(entry[2]) for cp, entry in data.items() if entry[2]}

    def full(cp):
        mapping = mappings.get(cp)
        if mapping is None or mapping[0]:  # none, or a compatibility mapping
            return [cp]
        out = []
        for c in mapping[1]:
            out.extend(full(c))
        return out

    canonical = {}
    for cp in sorted(mappings):
        canon = full(cp)
        if canon != [cp]:
            canonical[cp] = canon

    compositions = []
    for cp, (is_compat, parts) in mappings.items():
        if is_compat or len(parts) != 2 or cp in exclusions:
            continue
        compositions.append((parts[0], parts[1], cp))
    compositions.sort()

    def emit_array(f, name, values, per_line=8, fmt="0x{:X}"):
        f.write(f"extern const uint32_t {name}[];\n")
        f.write(f"const uint32_t {name}[] = {{\n")
        for i in range(0, len(values), per_line):
            f.write("    " + ", ".join(fmt.format(v) for v in values[i:i + per_line]) + ",\n")
        f.write("};\n")
        f.write(f"extern const size_t {name}Size;\n")
        f.write(f"const size_t {name}Size = {len(values)};\n\n")

    def emit_decompositions(f, prefix, table):
        keys = []
        pool = []
        for cp in sorted(table):
            seq = table[cp]
            assert len(seq) < 32 and len(pool) < (1 << 16)
            keys.append(cp)
            pool_start = len(pool)
            pool.extend(seq)
            keys.append(pool_start << 5 | len(seq))
        emit_array(f, prefix + "Index", keys)
        emit_array(f, prefix + "Pool", pool)

    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("// Generated by scripts/gen_unicode_tables.py from the Unicode Character Database\n")
        f.write(f"// {version} (Debian's unicode-data). Do not edit; see core/unicode.cpp.\n")
        f.write("#include <cstddef>\n#include <cstdint>\n\nnamespace lm::unicode::tables {\n\n")
        f.write(f'extern const char kVersion[];\nconst char kVersion[] = "{version}";\n\n')
        emit_array(f, "kCategoryRuns", [first << 3 | value for first, value in category_runs])
        emit_array(f, "kWordRuns", [first << 1 | value for first, value in word_runs])
        emit_array(f, "kWhiteSpaceRuns", [first << 1 | value for first, value in space_runs])
        emit_array(f, "kCombiningRuns", [first << 8 | value for first, value in ccc_runs])
        emit_decompositions(f, "kCanonical", canonical)
        emit_array(f, "kCompositions", [v for triple in compositions for v in triple], per_line=9)
        f.write("}  // namespace lm::unicode::tables\n")
    os.replace(tmp, output)


if __name__ == "__main__":
    main()
