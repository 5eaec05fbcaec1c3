#!/usr/bin/env bash
# The agentrr demo: record the golden-path example agent, replay it
# faithfully, then replay a copy whose system prompt was edited and show
# where it diverges. Uses the default store (.agentrr/ here) unless
# AGENTRR_STORE says otherwise. Exits non-zero if any step does not behave
# as described.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
AGENTRR=./bin/agentrr
AGENT=./bin/deterministic_support
EDITED=./bin/deterministic_support_edited
SRC=examples/deterministic_support/main.go

step() { printf '\n==> %s\n' "$*"; }

[ -x "$AGENTRR" ] || $GO build -o "$AGENTRR" ./cmd/agentrr
$GO build -o "$AGENT" ./examples/deterministic_support

# The edited variant: the same agent with one word of its system prompt
# changed, built with a go build overlay so the source tree is untouched.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/You are a helpful support agent/You are a terse support agent/' "$SRC" >"$tmp/main.go"
if cmp -s "$SRC" "$tmp/main.go"; then
	echo "demo: could not edit the system prompt in $SRC" >&2
	exit 1
fi
printf '{"Replace":{"%s":"%s"}}\n' "$PWD/$SRC" "$tmp/main.go" >"$tmp/overlay.json"
$GO build -overlay "$tmp/overlay.json" -o "$EDITED" ./examples/deterministic_support

step "record: $AGENT"
AGENTRR_EXAMPLE_QUIET=1 "$AGENT" | tee "$tmp/record.out"
run_id=$(sed -n 's/^run_id: //p' "$tmp/record.out")
[ -n "$run_id" ] || { echo "demo: the agent printed no run_id" >&2; exit 1; }

step "agentrr runs --limit 3"
"$AGENTRR" runs --limit 3

step "replay, unchanged agent: agentrr replay --from-trace ${run_id:0:8} -- $AGENT"
"$AGENTRR" replay --from-trace "${run_id:0:8}" -- "$AGENT"

step "replay, system prompt edited: agentrr replay --from-trace ${run_id:0:8} -- $EDITED"
set +e
"$AGENTRR" replay --from-trace "${run_id:0:8}" -- "$EDITED" 2>"$tmp/edited.err"
rc=$?
set -e
if [ "$rc" -ne 1 ]; then
	cat "$tmp/edited.err" >&2
	echo "demo: expected the edited agent to diverge (exit 1), got exit $rc" >&2
	exit 1
fi
echo
echo "demo: the edited agent diverged at the first LLM call, as expected (agentrr exit status 1)."
