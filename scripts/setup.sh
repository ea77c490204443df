#!/usr/bin/env bash
# README command 1: installs Strata on this machine and shows it working.
#   - installs the Debian packages every tier needs (scripts/install-deps.sh)
#   - builds strata (CLI), strata-supervisor and stratad, installs them under /usr/local
#   - starts the daemon on its embedded store (/var/lib/strata, socket /run/strata/strata.sock)
#   - runs a first workload on every tier available here, and lists what happened
#   - ends with `strata bench --quick`: the article's comparison table measured on this machine
# Safe to run again: it reinstalls the binaries and reuses a running daemon.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# Strata installs packages and manages cgroups: root, or sudo when this user has it.
source "$root/scripts/as-root.sh"
as_root "$root/scripts/setup.sh" "$@"

step "Installing packages"
bash scripts/install-deps.sh

step "Building strata, strata-supervisor and stratad"
bash scripts/publish-native.sh

step "Installing into /usr/local"
prefix=/usr/local/lib/strata
was_running=0
if strata info >/dev/null 2>&1; then was_running=1; fi
rm -rf "$prefix.new" && cp -a artifacts/bin "$prefix.new" && rm -rf "$prefix" && mv "$prefix.new" "$prefix"
for b in strata stratad strata-supervisor; do ln -sf "$prefix/$b" "/usr/local/bin/$b"; done
getent group strata >/dev/null || groupadd --system strata
echo "installed: $(command -v strata) ($(strata version))"

step "Starting the daemon"
if [ "$was_running" -eq 1 ]; then
  echo "a daemon was running; restarting it on the new binaries (instances keep running)"
  strata daemon stop >/dev/null || true
  for _ in $(seq 50); do strata info >/dev/null 2>&1 || break; sleep 0.2; done
fi
mkdir -p /var/log/strata
setsid stratad >/var/log/strata/stratad.log 2>&1 < /dev/null &
for _ in $(seq 100); do strata info >/dev/null 2>&1 && break; sleep 0.2; done
strata info

available() { strata info --json | grep -q "\"tier\":\"$1\",\"available\":true"; }

step "process tier: a command straight on the host"
strata run --rm --tier process -- sh -c 'echo "hello from the process tier on $(uname -n), kernel $(uname -r)"'

if available container; then
  step "container tier: busybox in namespaces and cgroups"
  strata image ls -q | grep -qx 'busybox:latest' || strata image build-base busybox
  strata run --rm --tier container busybox -- sh -c 'echo "hello from a container: hostname $HOSTNAME, $(ps | wc -l) processes visible"'
fi

if available wasm; then
  step "wasm tier: a WebAssembly module with WASI"
  strata run --rm --tier wasm examples/hello.wat
fi

if available sandbox; then
  step "sandbox tier: the same busybox image behind its own kernel"
  strata run --rm --tier sandbox busybox -- sh -c 'echo "hello from a sandbox: guest kernel $(uname -r)"'
fi

if available vm; then
  step "vm tier: a full guest with its own kernel"
  strata run --rm --tier vm busybox -- sh -c 'echo "hello from a vm: guest kernel $(uname -r)"'
fi

step "What ran (strata ps -a) and which tiers this host offers"
strata run -d --name hello-web --tier process -- sleep 3600 >/dev/null 2>&1 || true
strata ps -a

step "The article's tables, measured on this machine (strata bench --quick, about a minute)"
# Its numbers are stored for the advisor: 'strata advise' then quotes this host's real start times.
strata bench --quick --report /var/lib/strata/bench/bench.html || echo "strata bench failed; the daemon log is /var/log/strata/stratad.log" >&2
echo
echo "Strata is running. Try: strata ps, strata logs hello-web, strata stop hello-web, strata advise --image busybox, strata --help"
