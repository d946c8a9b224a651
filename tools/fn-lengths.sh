#!/usr/bin/env bash
# Reports the longest functions of the C++ (src/, via universal-ctags) and of
# the PL/pgSQL and SQL functions of src/sql/ (CREATE FUNCTION to its closing
# dollar quote), longest first: "LINES  FILE:LINE  NAME".
#   tools/fn-lengths.sh [N]     the N longest (default 10)
#   tools/fn-lengths.sh --max M prints them and fails when one is longer than M
set -euo pipefail
cd "$(dirname "$0")/.."
count=10 max=
case "${1:-}" in
  --max) max=${2:?--max needs a number of lines}; count=${3:-10} ;;
  '') ;;
  *) count=$1 ;;
esac
command -v ctags >/dev/null || { echo "fn-lengths: universal-ctags is needed (apt-get install universal-ctags)" >&2; exit 2; }
{
  ctags --output-format=json --fields=+ne --languages=C++ -R -o - src 2>/dev/null |
    python3 -c '
import json, re, sys
for line in sys.stdin:
    t = json.loads(line)
    if t.get("kind") != "function" or "end" not in t:
        continue
    name = t["name"]
    if name.startswith("__anon"):
        continue  # lambdas: counted within their function
    m = re.search(r"PGJ_FUNCTION\((\w+)\)", t.get("pattern", ""))
    if m:
        name = m.group(1)
    print(t["end"] - t["line"] + 1, "%s:%d" % (t["path"], t["line"]), name)
'
  python3 - src/sql/*.sql <<'PY'
import re, sys
for path in sys.argv[1:]:
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.]+)", lines[i], re.I)
        if not m:
            i += 1
            continue
        start, name = i, m.group(1)
        # The body: from the first dollar quote to the same quote closing it;
        # a function without one (LANGUAGE C) ends at its statement's ';'.
        j, tag, rest = i, None, ""
        while j < len(lines):
            q = re.search(r"(\$\w*\$)", lines[j])
            if q:
                tag = q.group(1)
                rest = lines[j][q.end():]
                break
            if lines[j].rstrip().endswith(";"):
                break
            j += 1
        while tag is not None and tag not in rest:
            j += 1
            if j >= len(lines):
                break
            rest = lines[j]
        print(j - start + 1, "%s:%d" % (path, start + 1), name)
        i = j + 1
PY
} | sort -k1,1nr | head -n "$count" | tee /tmp/fn-lengths.$$ | awk '{ printf "%5d  %s  %s\n", $1, $2, $3 }'
longest=$(head -n1 /tmp/fn-lengths.$$ | cut -d' ' -f1)
rm -f /tmp/fn-lengths.$$
if [ -n "$max" ] && [ "${longest:-0}" -gt "$max" ]; then
  echo "fn-lengths: the longest function has $longest lines (more than $max)" >&2
  exit 1
fi
