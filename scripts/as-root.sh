# Sourced by setup.sh and test.sh: runs the calling script as root. As root it does nothing; as a user with
# sudo it runs the script again through sudo (keeping the environment, so CI=true and STRATA_* pass through).
# A root-only machine has no sudo binary, so the README's commands call `bash scripts/...` and let this decide.
#   as_root SCRIPT ARGS...            without root or sudo: say how to become root and exit 1
#   as_root --optional SCRIPT ARGS... without root or sudo: go on as this user (say so)
as_root() {
  local optional=0
  if [ "$1" = "--optional" ]; then optional=1; shift; fi
  local script="$1"; shift
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$script" "$@"
  fi
  if [ "$optional" -eq 1 ]; then
    echo "$(basename "$script" .sh): not root and no sudo: tests that need root will skip (CI=true makes them fail)" >&2
    return 0
  fi
  echo "$(basename "$script" .sh): run as root (for example: su -c 'bash $script'); this machine has no sudo" >&2
  exit 1
}
