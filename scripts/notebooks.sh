#!/usr/bin/env bash
# Executes the teaching notebooks headless, as CI does:
#   1. creates the virtualenv .venv-nb if missing and installs
#      notebooks/requirements.txt (again whenever that file changes);
#   2. builds the release binary the notebooks drive;
#   3. checks that no notebook is committed with outputs (`--strip` removes
#      them in place instead of failing);
#   4. runs every notebook with `pytest --nbmake`; a failed assertion in a
#      lesson fails the run.
# QUICK=1 (the default) runs the short lessons; QUICK=0 the long ones.
set -euo pipefail
cd "$(dirname "$0")/.."

strip=0
for arg in "$@"; do
  case "$arg" in
    --strip) strip=1 ;;
    *) echo "usage: $0 [--strip]" >&2; exit 2 ;;
  esac
done

venv=.venv-nb
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$venv/.requirements.sha256"
want=$(sha256sum notebooks/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing notebooks/requirements.txt"
  "$venv/bin/python" -m pip install --quiet -r notebooks/requirements.txt
  echo "$want" >"$stamp"
fi

echo "== cargo build --release"
cargo build --release --quiet
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
export VTSIM_BIN="${VTSIM_BIN:-$target_dir/release/vtsim}"
export QUICK="${QUICK:-1}"
# A quick lesson runs vtsim for seconds; a hung run should fail, not stall CI.
if [ "$QUICK" = 1 ]; then export VTSIM_TIMEOUT_S="${VTSIM_TIMEOUT_S:-120}"; fi
export MPLBACKEND=Agg

echo "== notebooks are committed without outputs"
STRIP=$strip "$venv/bin/python" - notebooks/*.ipynb <<'PY'
import os, sys
import nbformat

strip = os.environ["STRIP"] == "1"
dirty = []
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if any(c.outputs or c.execution_count is not None for c in code):
        if strip:
            for c in code:
                c.outputs = []
                c.execution_count = None
            nbformat.write(nb, path)
            print(f"stripped {path}")
        else:
            dirty.append(path)
if dirty:
    sys.exit("notebooks with outputs (run scripts/notebooks.sh --strip): " + ", ".join(dirty))
PY

echo "== executing notebooks (QUICK=$QUICK)"
"$venv/bin/python" -m pytest --nbmake --nbmake-timeout=300 -p no:cacheprovider \
  --durations=0 notebooks/
