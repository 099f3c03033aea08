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
cargo test -p fieldvault-aws --lib --locked

step "local stack"
state="$(mktemp -d "${TMPDIR:-/tmp}/fieldvault-test.XXXXXX")"
trap 'fv_stack_stop; rm -rf "$state"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fv_stack_start "$state"
fv_bg gateway "$root/target/debug/fieldvault-local" up --stack-name fv-test --env-out "$state/api.env"
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
cargo test --workspace --locked -- --test-threads "${FV_TEST_THREADS:-8}" "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- gateway log (last 60 lines)"
  tail -n 60 "$state/gateway.log" || true
fi
step "done"
exit "$status"
