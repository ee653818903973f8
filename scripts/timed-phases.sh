#!/usr/bin/env bash
# Runs named phases in order, stops at the first failure, and prints how long each took:
#   timed-phases.sh NAME COMMAND [NAME COMMAND ...]
set -uo pipefail
names=() secs=() status=0
while [ $# -ge 2 ]; do
  name=$1 command=$2; shift 2
  printf '\n=== phase %s: %s\n' "$name" "$command"
  start=$(date +%s)
  bash -c "$command"; status=$?
  names+=("$name"); secs+=($(( $(date +%s) - start )))
  [ $status -eq 0 ] || break
done
printf '\n%-14s %8s\n' phase seconds
for i in "${!names[@]}"; do printf '%-14s %8s\n' "${names[$i]}" "${secs[$i]}"; done
[ $status -eq 0 ] && echo "all phases passed" || echo "phase ${names[-1]} failed (exit $status)"
exit $status
