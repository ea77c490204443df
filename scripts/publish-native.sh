#!/usr/bin/env bash
# Publishes the NativeAOT executables (today: strata-supervisor) to artifacts/bin.
# Needs clang and zlib1g-dev (scripts/deps/supervisor.txt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rid="${RID:-linux-$(uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')}"
out="${1:-$root/artifacts/bin}"
dotnet publish "$root/src/Strata.Supervisor/Strata.Supervisor.csproj" -c Release -r "$rid" -o "$out" --nologo
# Only the executable is needed at run time.
rm -f "$out"/strata-supervisor.dbg "$out"/*.pdb
echo "published $out/strata-supervisor"
