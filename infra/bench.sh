#!/usr/bin/env bash
# Benchmark of the request path on a local stack of its own (free ports, stopped at the end).
# Not a test and not run by CI: numbers depend on the machine. See bench/README.md.
#
#   infra/bench.sh                        # full run (a few minutes after the build)
#   infra/bench.sh --requests 100 --seconds 1 --cold-runs 3    # quicker
#   infra/bench.sh --skip-cold            # no cold-start phase
#
# Environment: CARGO_TARGET_DIR as for cargo (a separate one avoids waiting for the lock of a
# concurrent build in target/, at the cost of a full build), FV_LAMBDA_DIR (default
# <target>/lambda: where infra/build.sh's cargo-lambda bootstraps are, reported if present).
#
# Builds the function binaries and fieldvault-bench with --release (the release profile
# strips), starts DynamoDB Local + moto, runs target/release/fieldvault-bench, which writes
# bench/results/latest.md and latest.json (git-ignored) and prints the markdown.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/lib.sh"
root="$(fv_root)"
cd "${root}"

# The benchmarked actions' functions, plus a few for size and cold start: the largest (user
# management links Cognito's SDK; the payment functions the provider's HTTPS client).
functions=(fv-get-me fv-list-users fv-intake fv-create-customer fv-get-customer
  fv-list-customers fv-get-timeline fv-update-customer fv-list-audit fv-get-openapi
  fv-issue-invoice fv-payment-webhook fv-invite-user)
pkg_args=()
for f in "${functions[@]}"; do pkg_args+=(-p "${f}"); done
# The bench reports sizes and cold starts of exactly these.
FV_BENCH_FUNCTIONS="${functions[*]}"
export FV_BENCH_FUNCTIONS

fv_install
started=${SECONDS}
# Two invocations: cargo unifies features across the packages of one build, and the bench's
# dependencies (reqwest, hyper server, the gateway) must not leak into the function binaries
# whose size and start-up we measure (infra/build.sh builds them on their own too).
# The same flags infra/build.sh builds the deployable binaries with.
RUSTFLAGS="$(fv_release_rustflags)"
export RUSTFLAGS
echo "== cargo build --release -p fieldvault-bench"
cargo build --release --locked -p fieldvault-bench
echo "== cargo build --release: ${functions[*]}"
cargo build --release --locked "${pkg_args[@]}"
echo "== built in $((SECONDS - started))s"

state="$(mktemp -d "${TMPDIR:-/tmp}/fieldvault-bench.XXXXXX")"
trap 'fv_stack_stop; rm -rf "${state}"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fv_stack_start "${state}"

FV_BENCH_RUSTC="$(rustc --version)"
FV_BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD 2>/dev/null; then FV_BENCH_COMMIT="${FV_BENCH_COMMIT}+dirty"; fi
export FV_BENCH_RUSTC FV_BENCH_COMMIT
target="${CARGO_TARGET_DIR:-${root}/target}"
# cargo-lambda's output (infra/build.sh), reported when present; FV_LAMBDA_DIR overrides it.
lambda_dir="${FV_LAMBDA_DIR:-${target}/lambda}"
"${target}/release/fieldvault-bench" --target-dir "${target}" --lambda-dir "${lambda_dir}" \
  --out "${root}/bench/results" "$@"
