#!/usr/bin/env bash
# ci-digest.sh LOG: prints what failed in a CI log, for the end of a failed
# run, where a reader of only the last lines of the output finds it. A
# failing Go test often prints a long trace after its error lines (the
# transaction trace of the broker fault tests runs to thousands of lines),
# which buries the errors: this prints, for each "--- FAIL" block, its
# lines without the trace lines ("[12.345s] storeN: ..."), at most 40 per
# block, then the package FAIL lines and any panic, at most 200 lines in
# all.
set -euo pipefail
log="${1:?usage: ci-digest.sh LOG}"
[[ -f "$log" ]] || exit 0
awk '
	/^[[:space:]]*--- FAIL/ { inblk = 1; shown = 0; print; next }
	/^(=== |--- PASS|--- SKIP|PASS$|FAIL|ok[[:space:]])/ { inblk = 0 }
	/^FAIL[[:space:]]/ { print; next }
	/^panic:|^fatal error:|^=== [A-Za-z]/ { if ($0 ~ /^===/ && $0 !~ /\(t\+/) next; print; next }
	inblk && $0 !~ /^[[:space:]]*\[[ 0-9.]+s\] store[0-9]+:/ {
		if (shown < 40) print
		else if (shown == 40) print "        ... (more lines in the full log)"
		shown++
	}
' "$log" | head -n 200
