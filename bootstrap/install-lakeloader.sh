#!/usr/bin/env bash
# EMR bootstrap action: install lakeloader's wheel and its pinned dependencies on every node.
# Usage (as an EMR bootstrap action):
#   s3://<code-bucket>/<prefix>/bootstrap/install-lakeloader.sh s3://<code-bucket>/<prefix>/dist/
# The argument is the S3 prefix holding lakeloader-*.whl and constraints.txt. Idempotent: rerunning
# on a node that already has this wheel version installs nothing new.
set -euo pipefail

src="${1:?usage: install-lakeloader.sh s3://bucket/prefix/dist/}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

aws s3 cp --recursive --exclude '*' --include 'lakeloader-*.whl' --include 'constraints.txt' "$src" "$work/"
wheel="$(ls "$work"/lakeloader-*.whl | head -n 1)"
[ -f "$wheel" ] || { echo "no lakeloader wheel under $src" >&2; exit 1; }

# EMR 7 ships pyspark with Spark itself: never let pip replace it.
grep -v -E '^(pyspark|py4j)==' "$work/constraints.txt" > "$work/constraints-emr.txt"
sudo python3 -m pip install --quiet --no-deps "$wheel"
sudo python3 -m pip install --quiet -c "$work/constraints-emr.txt" \
  boto3 pyyaml duckdb duckdb-ext-httpfs sqlglot pyarrow
echo "installed $(basename "$wheel")"
