#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not
# installed yet, so a machine that has everything pays nothing. Run by
# `make apt-deps` through images/lib/step.sh, which keeps this output (apt's
# and dpkg's, a line or two per package) in a log and shows progress from the
# "installing N packages" line below and dpkg's "Unpacking"/"Setting up" lines.
#
#   images/lib/apt-deps.sh PACKAGE...
#
# APT_DEPS_REINSTALL=1 reinstalls the named packages even when installed (to
# try the reporting with a small package without removing anything).
set -euo pipefail

reinstall=()
[[ ${APT_DEPS_REINSTALL:-} == 1 ]] && reinstall=(--reinstall)
# One dpkg-query for all (one per package took ~2 s here); a package dpkg
# has never heard of is simply absent from its answer.
declare -A installed=()
while read -r name want ok state; do
  [[ "$want $ok $state" == 'install ok installed' ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
missing=()
for p in "$@"; do
  if ((${#reinstall[@]})) || [[ -z ${installed[$p]:-} ]]; then missing+=("$p"); fi
done
if ((${#missing[@]} == 0)); then
  echo "apt-deps: all $# Debian packages installed"
  exit 0
fi

echo "apt-deps: missing ${missing[*]}"
echo "apt-deps: updating the package lists"
apt-get update -qq
# With their dependencies: what dpkg will unpack and set up.
simulation=$(apt-get install -s "${reinstall[@]}" --no-install-recommends "${missing[@]}" 2>&1) || {
  status=$?
  echo "$simulation" >&2
  exit "$status"
}
total=$(grep -c '^Inst ' <<<"$simulation" || true)
echo "apt-deps: installing $total packages (${#missing[@]} asked for, and their dependencies)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${reinstall[@]}" --no-install-recommends "${missing[@]}"
echo "apt-deps: installed ${#missing[@]} Debian packages ($total with their dependencies)"
