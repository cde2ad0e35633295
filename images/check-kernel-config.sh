#!/usr/bin/env bash
# Checks that a kernel .config holds every line of a config fragment as
# written: CONFIG_X=value lines verbatim, "# CONFIG_X is not set" lines as
# absent or unset. Kconfig's olddefconfig silently drops an option whose
# dependencies are unmet; this turns that into a build failure.
#
#   images/check-kernel-config.sh FRAGMENT DOT_CONFIG
#
# Prints one line per option that did not survive; exits 1 if there is any.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 FRAGMENT DOT_CONFIG" >&2; exit 2; }
fragment=$1
config=$2
for f in "$fragment" "$config"; do
  [[ -r $f ]] || { echo "check-kernel-config: cannot read $f" >&2; exit 2; }
done

# What the .config says about option $1: its line, or "absent".
actual() { grep -E "^(# )?$1[= ]" "$config" || echo absent; }

failures=0
# "|| [[ -n $line ]]": a fragment whose last line lacks a newline still counts.
while IFS= read -r line || [[ -n $line ]]; do
  if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=.*$ ]]; then
    grep -qxF -- "$line" "$config" && continue
  elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
    grep -qE "^${BASH_REMATCH[1]}=" "$config" || continue
  else
    continue # comments and blank lines
  fi
  echo "check-kernel-config: not applied: $line (the .config has: $(actual "${BASH_REMATCH[1]}"))"
  failures=$((failures + 1))
done <"$fragment"
((failures == 0))
