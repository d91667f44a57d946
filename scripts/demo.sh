#!/usr/bin/env bash
# The main job: set up .venv, then run Protocol 1 (demo timing) end to end on the
# simulated rig, write the session file, and end with one labelled summary: the
# analysis of the file (per-trial table in 80 columns, then the session summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
mkdir -p out
out="out/protocol1-demo-$(date +%Y%m%d-%H%M%S).h5"
.venv/bin/myoforce run protocols/library/protocol1-demo.yaml --sim --yes --out "$out" \
    --subject demo-rat-01 --group vehicle --vehicle saline --species rat --sex male \
    --body-mass-g 310 --muscle EDL --side left --muscle-length-mm 32 --muscle-mass-mg 175 \
    --anesthesia isoflurane --temperature-C 37 --operator demo --no-results-table "$@"
echo
.venv/bin/myoforce analyze "$out"
echo "Session file: $out"
echo "Replay it:    .venv/bin/myoforce gui $out"
