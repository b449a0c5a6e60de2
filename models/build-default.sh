#!/usr/bin/env bash
# Rebuild the bundled model, lts_sampler/models/lts-default, from Debian's CC0 sonic-pi-samples
# (apt-get install sonic-pi-samples).
# On a GPU machine training uses CUDA; on a CPU it takes a few minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/usr/share/sonic-pi/samples}
lts-sampler train "$data" -o runs/lts-default --heldout-list models/heldout-sonic-pi.txt --seed 0 \
    --max-minutes 10
lts-sampler export runs/lts-default -o lts_sampler/models/lts-default --name lts-default \
    --dataset-name "Debian sonic-pi-samples (Sonic Pi 3.2.2 sample set)" --licence "CC0-1.0"
