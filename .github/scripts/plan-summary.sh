#!/usr/bin/env bash
# plan-summary.sh <environment> <plan.json>: the plan-review summary (markdown) of one environment's
# plan on stdout; exit status is the gate's (non-zero: a stateful resource is deleted or replaced).
# Deliberate deletions are listed, reviewably, in .github/allow-destroy.txt: "<env> <address>".
# Used by the plan, deploy and drift jobs, so all three read the same list.
set -euo pipefail
environment="$1"
plan_json="$2"
allow=()
if [ -f .github/allow-destroy.txt ]; then
  while read -r env address; do
    if [ "$env" = "$environment" ] && [ -n "$address" ]; then
      allow+=(--allow-destroy "$address")
    fi
  done < <(grep -v '^[[:space:]]*#' .github/allow-destroy.txt || true)
fi
exec .venv/bin/python -m scripts.plan_summary "$plan_json" --markdown "${allow[@]}"
