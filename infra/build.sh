#!/usr/bin/env bash
# Build every Lambda function for deployment, in one cargo invocation, and lay the result
# out the way `sam build` would, so that a plain `sam deploy` deploys exactly these binaries.
#
#   infra/build.sh            # arm64 (Graviton), what template.yaml deploys
#   infra/build.sh --x86-64   # local fallback when the arm64 Rust target is not installed;
#                             # NOT deployable with template.yaml as is (it says arm64)
#
# What it does:
#   1. installs cargo-lambda and zig (PyPI `cargo-lambda`, `ziglang`) into .local/venv
#      (git-ignored) via infra/local/lib.sh;
#   2. runs `cargo lambda build --release --locked` for every package under functions/
#      (never infra/tools), cross-compiling with zig so the binaries link against an old
#      glibc that Amazon Linux 2023 (provided.al2023) has;
#   3. checks each target/lambda/<binary>/bootstrap is an ELF of the right architecture;
#   4. writes .aws-sam/build/<LogicalId>/bootstrap and .aws-sam/build/template.yaml
#      (template.yaml with each function's CodeUri pointing at its build directory), which is
#      where `sam deploy` looks first. See docs/DEPLOY.md.
#
# Environment: CARGO_TARGET_DIR (default <repo>/target; `cargo lambda build --target-dir`
# is broken, so this is the only way to move it), FV_SAM_BUILD_DIR (default
# <repo>/.aws-sam/build).
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/local/lib.sh"
root="$(fv_root)"
cd "${root}"

arch=arm64
for arg in "$@"; do
  case "${arg}" in
    --arm64) arch=arm64 ;;
    --x86-64 | --x86_64) arch=x86_64 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "infra/build.sh: unknown argument ${arg} (try --help)" >&2
      exit 2
      ;;
  esac
done

case "${arch}" in
  arm64) triple=aarch64-unknown-linux-gnu arch_flag=--arm64 elf_machine=183 ;; # EM_AARCH64
  x86_64) triple=x86_64-unknown-linux-gnu arch_flag=--x86-64 elf_machine=62 ;; # EM_X86_64
esac

# The Rust standard library for the target must already be installed: cargo-lambda would
# otherwise try to download it with rustup in the middle of the build.
sysroot="$(rustc --print sysroot)"
if [[ ! -d "${sysroot}/lib/rustlib/${triple}/lib" ]]; then
  {
    echo "infra/build.sh: the Rust target ${triple} is not installed for $(rustc --version)."
    echo "  Install it (needs network access to static.rust-lang.org):"
    echo "      rustup target add ${triple}"
    if [[ "${arch}" == arm64 ]]; then
      echo "  template.yaml deploys arm64 (Graviton), so deployable builds need it."
      echo "  To check that everything builds without it, use the x86-64 fallback:"
      echo "      infra/build.sh --x86-64"
    fi
  } >&2
  exit 1
fi

fv_install_build_tools
venv="$(fv_venv_dir)"
# cargo-lambda runs cargo-zigbuild, which finds zig as `zig` on PATH or else as
# `python3 -m ziglang`: with the venv first on PATH, that is the venv's ziglang wheel.
export PATH="${venv}/bin:${PATH}"
python3 -c 'import ziglang' 2>/dev/null || {
  echo "infra/build.sh: ziglang is not importable by $(command -v python3)" >&2
  exit 1
}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${root}/target}"
sam_dir="${FV_SAM_BUILD_DIR:-${root}/.aws-sam/build}"

# Work from a snapshot of template.yaml taken now, so the functions built and the functions
# deployed are the same even if the file changes during a long build.
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cp template.yaml "${work}/template.yaml"

# The template's functions, as "LogicalId Binary" lines; the same code writes the SAM layout.
cat >"${work}/sam_layout.py" <<'PY'
"""List template.yaml's functions, or write the `sam build`-style layout for them."""
import os, re, shutil, sys

BLOCK = re.compile(
    r"^  (\w+):\n    Type: AWS::Serverless::Function\n"
    r"    Metadata:\n      BuildMethod: rust-cargolambda\n"
    r"      BuildProperties:\n        Binary: (\S+)\n"
    r"(    Properties:\n      CodeUri: )(\S+)\n",
    re.M,
)

def functions(text):
    found = [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]
    declared = len(re.findall(r"^    Type: AWS::Serverless::Function$", text, re.M))
    if declared != len(found):
        sys.exit(f"infra/build.sh: template.yaml declares {declared} functions, {len(found)} in"
                 " the expected layout (Type, Metadata.BuildMethod/BuildProperties.Binary,"
                 " then Properties.CodeUri)")
    return found

mode, template = sys.argv[1], sys.argv[2]
text = open(template, encoding="utf-8").read()
if mode == "list":
    for logical_id, binary in functions(text):
        print(logical_id, binary)
    sys.exit(0)

out, lambda_dir, arch = sys.argv[3:6]
functions(text)
def rewrite(m):
    logical_id, binary = m.group(1), m.group(2)
    dest = os.path.join(out, logical_id)
    os.makedirs(dest)
    shutil.copy2(os.path.join(lambda_dir, binary, "bootstrap"), os.path.join(dest, "bootstrap"))
    return f"  {logical_id}:\n    Type: AWS::Serverless::Function\n{m.group(3)}{logical_id}\n"
# Rewrite the text rather than re-serialising the YAML, so the deployed template is the
# reviewed one, byte for byte, except for these lines.
text, n = BLOCK.subn(rewrite, text)
if arch != "arm64":
    # Only so a local x86-64 build is internally consistent; never deploy it to production.
    text = text.replace("Architectures: [arm64]", "Architectures: [x86_64]")
header = ("# GENERATED by infra/build.sh from template.yaml: do not edit. "
          f"Function code: prebuilt {arch} bootstrap binaries in this directory.\n")
with open(os.path.join(out, "template.yaml"), "w", encoding="utf-8") as f:
    f.write(header + text)
print(f"== {out}/template.yaml: {n} functions")
PY
mapfile -t template_functions < <(python3 "${work}/sam_layout.py" list "${work}/template.yaml")
((${#template_functions[@]})) || { echo "infra/build.sh: template.yaml declares no functions" >&2; exit 1; }

# Function packages: every workspace member under functions/ (each has one binary, fv-<dir>,
# the name template.yaml's Metadata.BuildProperties.Binary gives). Never infra/tools.
mapfile -t packages < <(
  cargo metadata --no-deps --format-version 1 --locked |
    python3 -c '
import json, os, sys
root = os.path.realpath(sys.argv[1])
for p in json.load(sys.stdin)["packages"]:
    rel = os.path.relpath(os.path.realpath(p["manifest_path"]), root)
    if rel.startswith("functions" + os.sep):
        print(p["name"])
' "${root}" | sort
)
((${#packages[@]})) || { echo "infra/build.sh: no packages under functions/" >&2; exit 1; }

# Refuse before a long build if the template and the crates disagree.
want="$(for f in "${template_functions[@]}"; do printf '%s\n' "${f#* }"; done | sort)"
have="$(printf '%s\n' "${packages[@]}")"
if [[ "${want}" != "${have}" ]]; then
  {
    echo "infra/build.sh: template.yaml functions and functions/* packages differ:"
    diff <(printf '%s\n' "${want}") <(printf '%s\n' "${have}") |
      sed -n -e 's/^< /  in template.yaml only: /p' -e 's/^> /  in functions\/ only:    /p'
  } >&2
  exit 1
fi
pkg_args=()
for p in "${packages[@]}"; do pkg_args+=(--package "${p}"); done

RUSTFLAGS="$(fv_release_rustflags)"
export RUSTFLAGS
echo "== cargo lambda build ${arch_flag} --release: ${#packages[@]} functions: ${packages[*]}"
started=${SECONDS}
cargo-lambda lambda build --release --locked "${arch_flag}" "${pkg_args[@]}"
echo "== built in $((SECONDS - started))s"

# Check every binary is there and really is a Linux ELF for the Lambda architecture.
for p in "${packages[@]}"; do
  bin="${CARGO_TARGET_DIR}/lambda/${p}/bootstrap"
  [[ -f "${bin}" ]] || { echo "infra/build.sh: missing ${bin}" >&2; exit 1; }
  python3 - "${bin}" "${elf_machine}" <<'PY'
import struct, sys
path, want = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    head = f.read(20)
if head[:4] != b"\x7fELF":
    sys.exit(f"infra/build.sh: {path} is not an ELF binary")
machine = struct.unpack_from("<H", head, 18)[0]
if machine != want:
    sys.exit(f"infra/build.sh: {path} has ELF machine {machine}, expected {want}")
PY
  # provided.al2023 has glibc 2.34: a newer symbol version would fail at cold start.
  if command -v readelf >/dev/null 2>&1; then
    glibc="$(readelf -V "${bin}" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
    if [[ -n "${glibc}" && "$(printf '%s\n2.34\n' "${glibc}" | sort -V | tail -n 1)" != 2.34 ]]; then
      echo "infra/build.sh: ${bin} needs glibc ${glibc}; Amazon Linux 2023 has 2.34" >&2
      exit 1
    fi
  fi
done

# Lay out what `sam build` would: one directory per function holding `bootstrap`, and the
# template with CodeUri pointing at it (Metadata.BuildMethod removed, so nothing rebuilds).
rm -rf "${sam_dir}"
mkdir -p "${sam_dir}"
# Build output, never committed: .aws-sam/ ignores itself (as pytest's cache does).
if [[ "${sam_dir}" == "${root}/.aws-sam/build" && ! -f "${root}/.aws-sam/.gitignore" ]]; then
  printf '# Created by infra/build.sh: build output, not source.\n*\n' >"${root}/.aws-sam/.gitignore"
fi
python3 "${work}/sam_layout.py" layout "${work}/template.yaml" "${sam_dir}" \
  "${CARGO_TARGET_DIR}/lambda" "${arch}"

echo "== binaries (${arch})"
for p in "${packages[@]}"; do ls -l "${CARGO_TARGET_DIR}/lambda/${p}/bootstrap"; done
du -ch "${packages[@]/#/${CARGO_TARGET_DIR}/lambda/}" | tail -n 1
echo "== next: sam deploy --guided   (see docs/DEPLOY.md)"
