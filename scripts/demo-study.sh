#!/usr/bin/env bash
# A small simulated study: Protocol 1 (demo timing) on three vehicle and three treated
# rats, then the group comparison. The simulated muscle is the same preset for every
# animal, so between-animal variation is modelled by a per-animal force factor
# (vehicle around 1.0, treatment around 1.15). About 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
dir="out/study-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$dir"
vehicle=(0.93 1.00 1.06)
treatment=(1.07 1.15 1.24)
for i in 0 1 2; do
    for group in vehicle treatment; do
        if [ "$group" = vehicle ]; then
            factor=${vehicle[$i]}; dosing=()
        else
            factor=${treatment[$i]}; dosing=(--compound "magnesium aspartate dihydrate")
        fi
        seed=$((i * 10 + ${#group}))
        echo "== rat $group-$((i + 1)) (force factor $factor)"
        .venv/bin/myoforce run protocols/library/protocol1-demo.yaml --sim --yes --seed "$seed" \
            --treatment "$factor" --out "$dir/$group-$((i + 1)).h5" --subject "$group-$((i + 1))" --group "$group" \
            "${dosing[@]}" --vehicle saline --muscle EDL --muscle-length-mm 32 \
            --muscle-mass-mg 175 > "$dir/$group-$((i + 1)).log"
        tail -n 1 "$dir/$group-$((i + 1)).log"
    done
done
.venv/bin/myoforce compare "$dir"/*.h5 --by group --csv "$dir/groups.csv"
echo "session files, logs and groups.csv in $dir"
