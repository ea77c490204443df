#!/usr/bin/env bash
# Publishes what an installation needs into one folder (default artifacts/bin):
#   strata             the CLI (NativeAOT)
#   strata-supervisor  the per-instance supervisor (NativeAOT)
#   stratad            the daemon (framework-dependent .NET app, ReadyToRun) and its libraries
# NativeAOT needs clang and zlib1g-dev (scripts/deps/supervisor.txt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rid="${RID:-linux-$(uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')}"
out="${1:-$root/artifacts/bin}"
mkdir -p "$out"
dotnet publish "$root/src/Strata.Supervisor/Strata.Supervisor.csproj" -c Release -r "$rid" -o "$out" --nologo -v quiet
dotnet publish "$root/src/Strata.Cli/Strata.Cli.csproj" -c Release -r "$rid" -o "$out" --nologo -v quiet
dotnet publish "$root/src/Strata.Daemon/Strata.Daemon.csproj" -c Release -r "$rid" --self-contained false -o "$out" --nologo -v quiet
# Only executables and libraries are needed at run time.
rm -f "$out"/*.dbg "$out"/*.pdb
echo "published strata, strata-supervisor and stratad to $out"
