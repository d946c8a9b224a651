#!/usr/bin/env python3
"""Flags statements in src/sql that break ALTER EXTENSION pg_journey UPDATE on a
distributed (Citus) install: a bare DDL statement or data change of a journey
table at the top level of an update file or of a code file (the code files are
rerun by every update). Such a statement must go through journey._alter (DDL)
or journey._alter_rows (UPDATE, INSERT, DELETE): src/sql/prelude.sql says why,
docs/development.md "Changing tables in scripts" how.

  tools/check-sql-scripts.py FILE...   prints FILE:LINE: ... per statement, exits 1 if any

make runs it on every script it assembles. The state files (types.sql,
tables.sql) run only at CREATE EXTENSION, before anything is distributed, and
update files from 0.1 (which had no journey.distribute) are not checked.
"""
import os
import re
import sys

# Statements on a journey table that Citus would propagate (DDL) or that each
# node would run again (data changes); normalized: upper case, single spaces.
TABLE = r"(?:ONLY )?JOURNEY\.\w+"
RULES = [
    (re.compile(r"^ALTER TABLE (?:IF EXISTS )?" + TABLE), "_alter"),
    (re.compile(r"^CREATE (?:UNIQUE )?INDEX .*? ON " + TABLE), "_alter"),
    (re.compile(r"^(?:ALTER|DROP) INDEX .*?JOURNEY\."), "_alter"),
    (re.compile(r"^(?:CREATE (?:OR REPLACE )?(?:CONSTRAINT )?TRIGGER|DROP TRIGGER|ALTER TRIGGER) .*? ON "
                + TABLE), "_alter"),
    (re.compile(r"^(?:CREATE|ALTER|DROP) POLICY .*? ON " + TABLE), "_alter"),
    (re.compile(r"^(?:UPDATE|INSERT INTO|DELETE FROM|TRUNCATE(?: TABLE)?) " + TABLE), "_alter_rows"),
]
EXEMPT_UPDATES = re.compile(r"(^|/)0\.1--[^/]*\.sql$")
STATE_FILES = ("types.sql", "tables.sql")


def statements(text):
    """Yields (line, statement) for each top-level statement: dollar-quoted
    bodies, strings and comments are skipped, not split."""
    i, n, line = 0, len(text), 1
    start, start_line, buf = 0, 1, []
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            buf.append(" ")
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            buf.append(" ")
            i = j
            continue
        if ch == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and text.startswith("''", j):
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            line += text.count("\n", i, j + 1)
            buf.append("''")
            i = j + 1
            continue
        m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", text[i:])
        if m:
            tag = m.group(0)
            j = text.find(tag, i + len(tag))
            j = n if j < 0 else j + len(tag)
            line += text.count("\n", i, j)
            buf.append("$$")
            i = j
            continue
        if ch == ";":
            stmt = " ".join("".join(buf).split())
            if stmt:
                yield start_line, stmt
            buf, i = [], i + 1
            start = i
            start_line = line
            continue
        if ch == "\n":
            line += 1
            if not "".join(buf).strip():
                start_line = line
        buf.append(ch)
        i += 1
    stmt = " ".join("".join(buf).split())
    if stmt:
        yield start_line, stmt


def check(path):
    base = os.path.basename(path)
    if base in STATE_FILES or EXEMPT_UPDATES.search(path):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = []
    for line, stmt in statements(text):
        upper = stmt.upper()
        for rule, helper in RULES:
            if rule.search(upper):
                found.append("%s:%d: bare statement on a journey table (breaks ALTER EXTENSION UPDATE on a "
                             "Citus install): write it as SELECT journey.%s('journey.<table>', $ddl$...$ddl$);"
                             " docs/development.md, \"Changing tables in scripts\"\n  %s"
                             % (path, line, helper, stmt[:160]))
                break
    return found


def main(paths):
    found = [msg for path in paths for msg in check(path)]
    for msg in found:
        print(msg, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
