# What `go test -v` skipped, and why, subtests included:
#   go test -v ./... 2>&1 | awk -f .ci/skips.awk
# `go test -v` prints a subtest's "--- SKIP" line at its parent's end, apart from the
# reason the subtest logged; this prints each skipped test's name, then what it
# logged. A test's output follows its "=== RUN", "=== CONT" or "=== NAME" line.
/^(ok|FAIL|PASS)/ { split("", why) }
/^=== (RUN|CONT|NAME)/ { t = $3; next }
/--- SKIP: / { print "SKIP " $3; printf "%s", why[$3]; next }
/^ / && !/--- (PASS|FAIL)/ { why[t] = why[t] $0 "\n" }
