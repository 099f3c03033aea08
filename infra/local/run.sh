#!/usr/bin/env bash
# Run the Fieldvault API on the local stack with a demo tenant. Installs what is missing
# (into .local/, git-ignored), starts DynamoDB Local and moto, provisions everything from
# template.yaml, and serves the API on 127.0.0.1 (FV_PORT, default 3000). Ctrl-C stops it all.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root="$(fv_root)"
cd "$root"
fv_install
cargo build --quiet -p fieldvault-tools --bins
state="$root/.local/run"
rm -rf "$state"
mkdir -p "$state"
trap fv_stack_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fv_stack_start "$state"
port="${FV_PORT:-3000}"
"$root/target/debug/fieldvault-local" up --demo --port "$port" --env-out "$state/api.env" &
gateway=$!
# `wait PID` (not a bare wait) so Ctrl-C runs the trap at once.
wait "$gateway"
