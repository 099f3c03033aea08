#!/usr/bin/env bash
# Smoke test for lib.sh: install, start the local stack, poke both emulators,
# stop everything. Works from any cwd. Exits 0 on success.
set -euo pipefail

# shellcheck source=infra/local/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/lib.sh"

STATE_DIR=""
cleanup() {
  local rc=$?
  fv_stack_stop
  # Keep the logs when something failed; they are the only clue.
  if ((rc == 0)) && [[ -n "${STATE_DIR}" ]]; then
    rm -rf "${STATE_DIR}"
  elif [[ -n "${STATE_DIR}" ]]; then
    echo "smoke: FAILED (rc=${rc}); logs kept in ${STATE_DIR}" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT # bash does not run the EXIT trap on a fatal signal by itself
trap 'exit 143' TERM

fv_install
STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fv-smoke.XXXXXX")"
fv_stack_start "${STATE_DIR}"

# The exported environment must also be reproducible from stack.env.
# shellcheck disable=SC1091 # generated at run time
( set -u; unset AWS_ENDPOINT_URL_DYNAMODB; source "${STATE_DIR}/stack.env"; [[ -n "${AWS_ENDPOINT_URL_DYNAMODB}" ]] )

sig='AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x'
ddb() { # ddb <Operation> <json>
  curl -sS --fail-with-body --max-time 10 -X POST \
    -H "X-Amz-Target: DynamoDB_20120810.$1" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H "Authorization: ${sig}" \
    --data "$2" "${AWS_ENDPOINT_URL_DYNAMODB}/"
}

ddb CreateTable '{"TableName":"smoke","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
tables="$(ddb ListTables '{}')"
echo "smoke: dynamodb ListTables -> ${tables}"
[[ "${tables}" == *'"smoke"'* ]] || { echo "smoke: table not listed" >&2; exit 1; }

# moto: KMS CreateKey over the JSON protocol (moto does not verify signatures).
key="$(curl -sS --fail-with-body --max-time 10 -X POST \
  -H 'X-Amz-Target: TrentService.CreateKey' \
  -H 'Content-Type: application/x-amz-json-1.1' \
  -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=x' \
  --data '{"Description":"fv-smoke"}' "${AWS_ENDPOINT_URL}/")"
echo "smoke: kms CreateKey -> ${key:0:160}..."
[[ "${key}" == *'"KeyId"'* ]] || { echo "smoke: no KeyId from moto" >&2; exit 1; }

# Stop explicitly and prove nothing we started survives.
mapfile -t started < <(awk '{print $2}' "${STATE_DIR}/pids")
fv_stack_stop
fv_stack_stop # idempotent
for p in "${started[@]}"; do
  if kill -0 "${p}" 2>/dev/null; then
    echo "smoke: pid ${p} still alive after fv_stack_stop" >&2
    ps -o pid,pgid,stat,args -p "${p}" >&2 || true
    exit 1
  fi
done
echo "smoke: OK (stopped pids: ${started[*]})"
