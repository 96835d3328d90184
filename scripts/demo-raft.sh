#!/usr/bin/env bash
# A three-member replicated stream on 127.0.0.1 (issue 15): starts the members, waits for a
# leader, appends entries through it, reads them back from every member, prints the status
# and stops the members. Usage: scripts/demo-raft.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: demo-raft.sh BUILD_DIR}
node="$build/replication/pmemstream-node"
[ -x "$node" ] || { echo "demo-raft: $node not built (PMEMSTREAM_BUILD_REPLICATION needs libraft-dev, libuv1-dev)" >&2; exit 1; }
dir=$(mktemp -d /tmp/pmemstream-raft-demo.XXXXXX)
base=$((30000 + $$ % 1000 * 10))
members=""
for i in 1 2 3; do members+="${members:+,}$i=127.0.0.1:$((base + i))"; done
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

for i in 1 2 3; do
	"$node" run --id "$i" --file "$dir/member$i" --address "127.0.0.1:$((base + i))" \
		--client "$((base + 10 + i))" --bootstrap "$members" --size 33554432 \
		--election-timeout 300 2>"$dir/member$i.log" &
	pids+=($!)
done

echo "== three members on 127.0.0.1:$((base + 1))..$((base + 3)); waiting for a leader"
leader=""
for _ in $(seq 1 200); do
	for i in 1 2 3; do
		if "$node" status --client "$((base + 10 + i))" 2>/dev/null | grep -q "state=leader"; then leader=$i; break 2; fi
	done
	sleep 0.05
done
[ -n "$leader" ] || { echo "demo-raft: no leader elected" >&2; exit 1; }
echo "member $leader is the leader"

echo "== appending through the leader (each returns once a majority persisted it)"
"$node" append --client "$((base + 10 + leader))" "first entry" "second entry" "third entry"
sleep 0.3 # followers learn the commit index with the next heartbeat

for i in 1 2 3; do
	echo "== read from member $i"
	"$node" read --client "$((base + 10 + i))"
done
echo "== status"
for i in 1 2 3; do "$node" status --client "$((base + 10 + i))"; done
echo "== stopping"
