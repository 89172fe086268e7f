#!/bin/sh
# One sharded test on Kubernetes, start to verdict:
#
#   CSMS_URL=wss://csms.example.com/ocpp deploy/kubernetes/run.sh
#
# writes the run's settings (fleetsim-run: CSMS_URL, RUN_ID, START_AT a minute
# ahead), applies the scenario, the results volume and the shards' Indexed
# Job, waits until every shard has ended, then runs the merge-and-gate Job
# and exits with its status: 0 every threshold of the scenario passed, 99 one
# failed, 2 the results could not be read. A shard that failed fails the test
# whatever the gate says (its part of the fleet is missing from the merged
# run): exit 3, or 4 when every failed shard could not drive its fleet, or
# 130 when one was stopped (evicted, its node drained).
#
# Environment: CSMS_URL (required), RUN_ID (default fleetsim-<UTC time>),
# START_AT (default a minute from now; ISO 8601 with a time zone),
# TIMEOUT_S (default 7200: how long to wait for the shards, then the merge),
# KUBECTL (default kubectl; e.g. "kubectl -n loadtest" or "kubectl --context x").
set -eu

here=$(cd "$(dirname "$0")" && pwd)
kubectl=${KUBECTL:-kubectl}
case "${CSMS_URL:-}" in
  ws://* | wss://*) ;;
  *) echo "run.sh: set CSMS_URL to the CSMS under test (ws://... or wss://...)" >&2; exit 2 ;;
esac
RUN_ID=${RUN_ID:-fleetsim-$(date -u +%Y%m%dT%H%M%SZ)}
ahead=$(( $(date +%s) + 60 ))
START_AT=${START_AT:-$(date -u -d "@$ahead" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$ahead" +%Y-%m-%dT%H:%M:%SZ)}
TIMEOUT_S=${TIMEOUT_S:-7200}

# wait_ended JOB: until JOB is Complete (returns 0) or Failed (returns 1).
# `kubectl wait` waits for one condition only, and a Job with a failed shard
# never becomes Complete: ask for Complete a few seconds at a time, and check
# Failed in between.
wait_ended() {
  deadline=$(( $(date +%s) + TIMEOUT_S ))
  until $kubectl wait --for=condition=complete --timeout=10s "job/$1" >/dev/null 2>&1; do
    if $kubectl wait --for=condition=failed --timeout=0 "job/$1" >/dev/null 2>&1; then
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "run.sh: job/$1 has not ended after ${TIMEOUT_S} s (TIMEOUT_S); it goes on: kubectl get job $1" >&2
      exit 3
    fi
  done
}

# The Jobs of the previous run (their pods too: a Job's pod template cannot be
# changed in place). Their results stay on the volume.
$kubectl delete job fleetsim-shards fleetsim-merge --ignore-not-found --cascade=foreground
$kubectl apply -f "$here/scenario.yaml" -f "$here/results-pvc.yaml"
$kubectl create configmap fleetsim-run --from-literal=CSMS_URL="$CSMS_URL" --from-literal=RUN_ID="$RUN_ID" \
  --from-literal=START_AT="$START_AT" --dry-run=client -o yaml | $kubectl apply -f -
$kubectl apply -f "$here/shards-job.yaml"
echo "run $RUN_ID: shards start at $START_AT against $CSMS_URL; results in /results/$RUN_ID/"

shards_failed=0
wait_ended fleetsim-shards || shards_failed=1
failed_code=0
if [ "$shards_failed" = 1 ]; then
  # Each failed shard by index, with its exit code (none: it never ran).
  codes=$($kubectl get pods -l batch.kubernetes.io/job-name=fleetsim-shards -o \
    jsonpath='{range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index} {.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}')
  echo "run.sh: shards failed (index, exit code):" >&2
  echo "$codes" | awk '$2 != "0"' >&2
  failed_code=$(echo "$codes" | awk '
    $2 == "0" { next }
    $2 == "4" { four = 1; next }
    $2 == "130" { stopped = 1; next }
    { other = 1 }
    END { print (other ? 3 : stopped ? 130 : four ? 4 : 3) }')
fi

# Merged and judged even when a shard failed: what was measured is kept.
$kubectl apply -f "$here/merge-job.yaml"
wait_ended fleetsim-merge || true
$kubectl logs job/fleetsim-merge || true
verdict=$($kubectl get pods -l batch.kubernetes.io/job-name=fleetsim-merge -o \
  jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}' || true)
if [ "$failed_code" != 0 ]; then
  echo "run.sh: FAILED: not every shard ran to its end; the merged run lacks their part of the fleet" >&2
  exit "$failed_code"
fi
exit "${verdict:-3}"
