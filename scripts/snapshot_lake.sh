#!/usr/bin/env bash
# Record a simulator output directory (its feeds, with the coverage its manifest declares) into a
# lake, for scripts/snapshot_reports.py:
#     scripts/snapshot_lake.sh SIM_DIR LAKE_DIR
set -euo pipefail
sim=$1 lake=$2
py=${PYTHON:-.venv/bin/python}
coverage() {
    "$py" -c 'import json,sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print(" ".join("--coverage %s/%s" % (c["from"], c["to"]) for c in m["coverage"] if c["source"] == sys.argv[2]))' "$sim" "$1"
}
rm -rf "$lake"
# shellcheck disable=SC2046
"$py" -m evlog record stream "$sim/here" --lake "$lake" $(coverage here_stream)
# shellcheck disable=SC2046
"$py" -m evlog record webhooks --from "$sim/edrv" --lake "$lake" $(coverage edrv_webhooks)
