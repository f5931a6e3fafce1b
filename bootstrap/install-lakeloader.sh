#!/usr/bin/env bash
# EMR bootstrap action: install lakeloader's wheel and its pinned dependencies on every node.
#
#   install-lakeloader.sh WHEEL_URI CONSTRAINTS_URI [PYTHON]
#
# `lakeloader deploy-step --create-cluster` uploads this script, the wheel and constraints.txt to
# content-addressed keys (<emr.code_location>/<sha256[:16]>/<name>) and passes their URIs. PYTHON is
# the interpreter Spark runs (emr.python, default python3.11: the pins need 3.11 and EMR 7's own python3
# is 3.9); a missing python3.X is installed with dnf.
# Idempotent: the URIs identify the content, so a marker per (wheel, constraints, python) makes a
# rerun on the same node a no-op. LAKELOADER_BOOTSTRAP_STATE moves the marker (tests).
set -euo pipefail

usage="usage: install-lakeloader.sh s3://.../lakeloader-<version>-py3-none-any.whl s3://.../constraints.txt [python3.11]"
wheel_uri="${1:?$usage}"
constraints_uri="${2:?$usage}"
python="${3:-python3.11}"

state_dir="${LAKELOADER_BOOTSTRAP_STATE:-/var/lib/lakeloader}"
key="$(printf '%s\n' "$wheel_uri" "$constraints_uri" "$python" | sha256sum | cut -c1-16)"
marker="$state_dir/installed-$key"
if [ -f "$marker" ]; then
  echo "lakeloader already installed from $wheel_uri ($python)"
  exit 0
fi

# Amazon Linux 2023 (EMR 7) packages each python3.X and its pip as python3.X and python3.X-pip.
if ! command -v "$python" >/dev/null 2>&1; then
  case "$python" in
    python3.*) sudo dnf install -y -q "$python" ;;
    *)
      echo "install-lakeloader.sh: $python is not on this node" >&2
      exit 1
      ;;
  esac
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  sudo dnf install -y -q "$(basename "$python")-pip"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wheel="$work/$(basename "$wheel_uri")"
aws s3 cp --only-show-errors "$wheel_uri" "$wheel"
aws s3 cp --only-show-errors "$constraints_uri" "$work/constraints.txt"

# EMR ships Spark's own pyspark and py4j, and Delta's jars: pip must never replace or add them.
grep -v -i -E '^(pyspark|py4j|delta-spark)==' "$work/constraints.txt" >"$work/constraints-emr.txt" || true

# The wheel's own requirements (its Requires-Dist), minus what EMR provides and the test extras.
"$python" - "$wheel" >"$work/requirements.txt" <<'PY'
import re
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode("utf-8").splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = line.split(":", 1)[1].strip()
        name = re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0].lower()
        if "extra ==" in req or name in {"pyspark", "py4j", "delta-spark"}:
            continue
        print(req)
PY

sudo "$python" -m pip install --quiet --no-input -c "$work/constraints-emr.txt" -r "$work/requirements.txt"
# --force-reinstall: a rebuilt wheel keeps its version number, and pip would skip an "installed" version.
sudo "$python" -m pip install --quiet --no-input --no-deps --force-reinstall "$wheel"

sudo mkdir -p "$state_dir"
sudo touch "$marker"
echo "installed $(basename "$wheel_uri") into $python"
