#!/usr/bin/env bash
# A simulated study, end to end (docs/study.md): ten rats, block-randomised and blinded,
# Protocol 1 (demo timing) on the simulated rig for each, filed in the study folder; the
# treatment effect is drawn from the hidden allocation (the operator only ever sees
# "group A"/"group B"); one exclusion; a blinded report and NWB export (codes only, the
# excluded rat left out); unblinding; the final report with its CSV/XLSX exports and the
# NWB export with the real groups. Two rats are measured at a time: about 6 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
mf=.venv/bin/myoforce
dir="out/study-$(date +%Y%m%d-%H%M%S)"
mkdir -p out
$mf study init "$dir" --title "Magnesium L-aspartate dihydrate and EDL function in rats (simulated)"
# the simulated treatment (hidden from the operator): a neuromuscular-junction block of
# 30 %, as raised extracellular Mg2+ causes by reducing acetylcholine release: the twitch
# (Pt, Pt/Po) is depressed far more than the tetanus (Po). Animals vary by SD 6 %.
sed -i 's/^effects = .*/effects = { treatment = "nmj-block:0.3" }/' "$dir/study.toml"
{
    echo "id,sex,date_of_birth,body_mass_g,arrival"
    for i in $(seq -w 1 10); do
        echo "R$i,male,2026-08-$i,$((280 + 4 * 10#$i)),2026-10-01"
    done
} > "$dir/animals.csv"
$mf study import "$dir/animals.csv" --study "$dir"
$mf study randomise "$dir"
$mf study dose "$dir"
run_one() {
    $mf run protocols/library/protocol1-demo.yaml --sim --yes --study "$dir" --animal "$1" \
        --muscle-length-mm 32 --muscle-mass-mg 175 > "$dir/run-$1.log" 2>&1
    echo "== $1: $(tail -n 1 "$dir/run-$1.log")"
}
for pair in "R01 R02" "R03 R04" "R05 R06" "R07 R08" "R09 R10"; do
    for a in $pair; do run_one "$a" & done
    wait
done
$mf study exclude R10 --reason "demo: the tendon tie slipped during the fatigue run" --study "$dir"
$mf study status "$dir"
$mf study report "$dir" --out "$dir/report-blinded.html"
$mf export "$dir" --nwb "$dir/nwb-blinded" > "$dir/nwb-blinded.log"
$mf study unblind "$dir" --reason "demo: all sessions recorded and checked" --yes
$mf study report "$dir" --out "$dir/report.html"
$mf export "$dir" --nwb "$dir/nwb" > "$dir/nwb.log"
echo "study folder, blinded and unblinded reports, CSV and XLSX exports, NWB files in $dir"
