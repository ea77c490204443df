#!/usr/bin/env bash
# Runs every test of Strata on this machine: installs what the tests need, builds warning-free,
# publishes the NativeAOT binaries the end-to-end tests drive, then runs all test projects.
# Tests that need root, KVM or a package skip with the reason, except under CI=true where they must run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The tests drive runc, cgroups and QEMU as root: root, or sudo when this user has it.
source "$root/scripts/as-root.sh"
as_root --optional "$root/scripts/test.sh" "$@"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bash scripts/install-deps.sh
dotnet build Strata.slnx -c Debug --nologo -v quiet -warnaserror
bash scripts/publish-native.sh

# The vm tier's full-OS test boots a real Debian disk built with debootstrap (a few minutes and ~150 MB
# from the Debian mirror the first time; kept in /var/tmp afterwards).
export STRATA_DEBIAN_DISK="${STRATA_DEBIAN_DISK:-/var/tmp/strata-debian-disk.qcow2}"
if [ ! -f "$STRATA_DEBIAN_DISK" ]; then
  bash scripts/build-debian-disk.sh "$STRATA_DEBIAN_DISK"
fi

results="$root/artifacts/test-results"
rm -rf "$results"
status=0
# One test project at a time: the network, sandbox and vm tests count host-wide taps, leases, iptables rules
# and namespaces before and after (nothing may leak), which only holds when no other project makes them meanwhile.
for project in tests/*.Tests/*.Tests.csproj; do
  dotnet test "$project" --no-build -c Debug --nologo -v quiet --logger "trx" --results-directory "$results" || status=$?
done

# Why each failed test failed: the console of a CI run is all that is kept of it.
bash scripts/trx-failures.sh "$results"/*.trx
# One summary line over every test project, in the plain form CI reads: "N passed, N failed, N skipped".
cat "$results"/*.trx 2>/dev/null | grep -o '<Counters [^>]*>' | awk '
  function v(name) { return match($0, name "=\"[0-9]+\"") ? substr($0, RSTART + length(name) + 2, RLENGTH - length(name) - 3) + 0 : 0 }
  { p += v("passed"); f += v("failed") + v("error") + v("timeout"); s += v("notExecuted") }
  END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
exit $status
