#!/usr/bin/env bash
# Print an access token for a user of the running local stack (started by run.sh).
# Usage: infra/local/token.sh EMAIL PASSWORD
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
state="${FV_STATE_DIR:-$root/.local/run}"
if [[ ! -f "$state/api.env" ]]; then
  echo "token.sh: no running local stack (start it with infra/local/run.sh)" >&2
  exit 1
fi
# shellcheck source=/dev/null
source "$state/stack.env"
# shellcheck source=/dev/null
source "$state/api.env"
exec "$root/target/debug/fieldvault-local" token "$@"
