#!/usr/bin/env python3
"""Fenced code blocks of a Markdown file, for test/system/docs_examples.sh.

    doc_blocks.py FILE OUTDIR

Writes each block to OUTDIR/NNN.txt and prints one line per block,
    NNN<TAB>LINE<TAB>LANGUAGE<TAB>ATTRIBUTES
with LINE the line of its opening fence. Exits 1, naming file and line, for
a fence without a language (every block says what it is, so no SQL escapes
the test unmarked), an unknown language, an unknown attribute of an sql
block, or an unclosed fence.

Languages: sql (run), sh, json, text, ini. Attributes of sql blocks:
    fails=SQLSTATE   the block must fail with this SQLSTATE
    synopsis         signatures, checked against the installed functions
    needs=pg_cron    the block needs pg_cron (preloaded, created in the database)
    needs=citus      the block needs a Citus cluster (shown, not run)
"""
import os
import re
import sys

LANGUAGES = {"sql", "sh", "json", "text", "ini"}
SQL_ATTRIBUTE = re.compile(r"^(fails=[0-9A-Z]{5}|synopsis|needs=pg_cron|needs=citus)$")


def main() -> int:
    path, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    errors = []
    blocks = []
    current = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fence = re.match(r"^(\s*)(```+)(.*)$", line.rstrip("\n"))
            if current is None:
                if not fence:
                    continue
                info = fence.group(3).split()
                if not info:
                    errors.append(f"{path}:{number}: a fenced block without a language (```sql, ```sh, ```text ...)")
                    info = ["text"]
                language, attributes = info[0], info[1:]
                if language not in LANGUAGES:
                    errors.append(f"{path}:{number}: unknown language {language!r} (one of {', '.join(sorted(LANGUAGES))})")
                if language != "sql" and attributes:
                    errors.append(f"{path}:{number}: attributes are for sql blocks: {' '.join(attributes)}")
                for a in attributes if language == "sql" else []:
                    if not SQL_ATTRIBUTE.match(a):
                        errors.append(f"{path}:{number}: unknown attribute {a!r} (fails=SQLSTATE, synopsis, needs=pg_cron, needs=citus)")
                current = {"line": number, "language": language, "attributes": attributes,
                           "fence": fence.group(2), "text": []}
            elif fence and fence.group(2) == current["fence"] and not fence.group(3).strip():
                blocks.append(current)
                current = None
            else:
                current["text"].append(line)
    if current is not None:
        errors.append(f"{path}:{current['line']}: fence not closed")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    for i, b in enumerate(blocks, start=1):
        with open(os.path.join(outdir, f"{i:03d}.txt"), "w", encoding="utf-8") as out:
            out.write("".join(b["text"]))
        print(f"{i:03d}\t{b['line']}\t{b['language']}\t{' '.join(b['attributes'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
