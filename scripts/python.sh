# Sourced by the setup scripts: the Python 3.11 interpreter that creates the virtualenvs.
pick_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return
    fi
  done
  echo "weft: Python 3.11 is required (torch 2.13.0's CPU build is a cp311 wheel)" >&2
  exit 1
}
