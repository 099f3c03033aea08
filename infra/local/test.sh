#!/usr/bin/env bash
# Every check and test Fieldvault has, on a local stack of its own (free ports, stopped at
# the end). Installs what is missing into .local/ (git-ignored). `.ci/run` calls this.
# Arguments, if any, filter the tests (passed to the test harness): test.sh guard::
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root="$(fv_root)"
cd "$root"
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }

fv_install
fv_install_checkov
fv_install_browser
export FV_CHROMEDRIVER="$(command -v chromedriver)" FV_CHROMIUM="$(command -v chromium)"
export FV_ARTIFACTS_DIR="$root/target/test-artifacts"
step "format"
cargo fmt --all -- --check
step "template lint (cfn-lint)"
"$(fv_venv_dir)/bin/cfn-lint" template.yaml
# Every check applies or is skipped in template.yaml with its reason (Metadata: checkov).
step "template scan (checkov)"
"$(fv_checkov_dir)/bin/checkov" -f template.yaml --framework cloudformation --compact --quiet --skip-download
step "build"
cargo build --workspace --all-targets --locked
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The deployable configuration: fieldvault-aws without the `local` feature (no policy guard),
# as infra/build.sh builds the functions. A workspace build unifies the feature on, so this
# build is separate: lints, and the test that such a build refuses local endpoints.
step "deployable build (fieldvault-aws without the local feature)"
cargo clippy -p fieldvault-aws --all-targets --locked -- -D warnings
# Every test's result line is kept (with the "Running <binary>" lines that say whose it is)
# for the security report at the end.
results="$(mktemp "${TMPDIR:-/tmp}/fieldvault-results.XXXXXX")"
cargo test -p fieldvault-aws --lib --locked 2>&1 | tee "$results"

step "local stack"
state="$(mktemp -d "${TMPDIR:-/tmp}/fieldvault-test.XXXXXX")"
# A test that paused an emulator resumes it itself; should it die first, resume it here so the
# stack stops cleanly.
trap 'kill -CONT "${FV_DDB_PID:-}" "${FV_MOTO_PID:-}" 2>/dev/null || true; fv_stack_stop; rm -rf "$state" "$results"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fv_stack_start "$state"
# --demo: a tenant of its own (demo-shop, one user per role) for the contract check below,
# apart from the tenants the tests create.
fv_bg gateway "$root/target/debug/fieldvault-local" up --demo --stack-name fv-test --env-out "$state/api.env"
fv_wait_file "$state/api.env" 120 "$state/gateway.log"
# shellcheck source=/dev/null
source "$state/api.env"
# Keys for the forged-token tests: moto's signing key (to sign tokens valid in every way but
# one, such as an expired exp) and a key no JWKS trusts.
moto_jwks="$(find "$(fv_venv_dir)" -path '*moto/cognitoidp/resources/jwks-private.json*' | head -n 1)"
"$(fv_venv_dir)/bin/python" "$root/infra/local/test_keys.py" "$moto_jwks" "$state"
export FV_TEST_KEYS_DIR="$state"

step "tests"
status=0
cargo test --workspace --locked -- --test-threads "${FV_TEST_THREADS:-8}" "$@" 2>&1 | tee -a "$results" \
  || status=$?
# Tests that must run alone are #[ignore]d above and run here, one at a time: the stall tests
# pause the stack's DynamoDB Local and moto (SIGSTOP), which would fail any test beside them,
# and the portal's flood test counts AssumeRole calls that other tests' sessions would churn.
step "tests that run alone (stalls, the portal flood)"
cargo test --locked --test system -- --ignored --test-threads 1 "$@" 2>&1 | tee -a "$results" \
  || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- gateway log (last 60 lines)"
  tail -n 60 "$state/gateway.log" || true
fi

# The API contract, after the tests (it writes as an owner, in the demo tenant only):
# schemathesis with every check over the served document, then a client typed from it.
# A filtered run (arguments given) is about those tests only, and skips both.
if [[ $# -eq 0 ]]; then
  owner_token="$("$root/target/debug/fieldvault-local" token owner@demo.fieldvault.test 'Demo-password-1!')"
  step "API contract (schemathesis over /openapi.json as the demo tenant's owner)"
  # Bounded: a fixed seed, a few examples per operation, no example database.
  if ! PYTHONPATH="$root/infra/local" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    "$(fv_check_venv_dir)/bin/st" --config-file "$root/infra/local/schemathesis.toml" run \
    "$FV_API_URL/openapi.json" --checks all --seed 14 --max-examples 3 \
    --generation-database none --workers 2 --request-timeout 20 --no-color \
    -H "Authorization: Bearer $owner_token" >"$state/schemathesis.log" 2>&1; then
    status=1
    echo "schemathesis found failures:"
  fi
  tail -n 60 "$state/schemathesis.log"

  step "generated client (openapi-typescript, tsc, node)"
  client="$root/target/client"
  rm -rf "$client" && mkdir -p "$client"
  curl -sf "$FV_API_URL/openapi.json" -o "$client/openapi.json"
  node_bin="$(fv_node_dir)/node_modules/.bin"
  # Defaults are not presence: a request may leave a defaulted field out.
  if "$node_bin/openapi-typescript" "$client/openapi.json" -o "$client/api.d.ts" --default-non-nullable false \
    && "$node_bin/tsc" -p "$root/tests/client/tsconfig.json"; then
    FV_CLIENT_TOKEN="$owner_token" node "$client/out/client.js" || status=1
  else
    status=1
    echo "the generated client does not type-check"
  fi
fi

step "security promises (SECURITY.md: every cited test ran and passed)"
report_args=()
[[ $# -eq 0 ]] || report_args+=(--partial)
"$root/target/debug/security-report" "$root/SECURITY.md" "$results" "${report_args[@]}" || status=1
step "done"
exit "$status"
