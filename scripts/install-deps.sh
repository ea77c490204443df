#!/usr/bin/env bash
# Installs the Debian packages Strata needs to build, run and test every tier (idempotent).
# Each area lists its packages in scripts/deps/<area>.txt; this script installs their union.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET 10 SDK is required (https://dot.net); install it and run this again" >&2
  exit 1
fi

mapfile -t wanted < <(cat "$root"/scripts/deps/*.txt | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u)
missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# npm: a nodejs package built elsewhere (nodesource's) brings its own npm and conflicts with Debian's npm
# package, so Debian's is wanted only where no npm is on PATH.
if ! command -v npm >/dev/null 2>&1 && ! dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q "install ok installed"; then
  missing+=(npm)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages present"
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run it as root to install them" >&2
  exit 1
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages must not start services here (docker.io would start a dockerd): hold them off while installing.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT # also when the install fails
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# arm64 guests for the vm tier: Debian's arm64 kernel and busybox, fetched without multiarch (only when the
# emulator is here; needs root to write /usr/local/share/strata).
if command -v qemu-system-aarch64 >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  bash "$root/scripts/fetch-arm64-guest.sh"
fi
