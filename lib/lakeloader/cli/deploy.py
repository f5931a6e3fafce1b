"""`lakeloader deploy-step`: the deploy run and its result printed (lakeloader.emr does the work)."""

from __future__ import annotations

import argparse
import json
import sys

from lakeloader.emr import DeployResult, deploy_step, load_deploy_config
from lakeloader.errors import LakeloaderError


def cmd_deploy_step(args: argparse.Namespace) -> int:
    """`lakeloader deploy-step`: print the result; a failure is one line on stderr and exit code 2."""
    try:
        config, emr = load_deploy_config(args.config, args.set)
        result = deploy_step(
            config,
            args.table,
            args.cluster_id,
            args.create_cluster,
            args.wait,
            args.dry_run,
            args.run_date,
            args.config,
            emr=emr,
            overrides=args.set,
        )
    except LakeloaderError as e:
        for line in getattr(e, "detail", []):
            print(f"  | {line}", file=sys.stderr)
        print(e, file=sys.stderr)
        return e.exit_code
    print(render_result(result))
    return 0


def render_result(result: DeployResult) -> str:
    """JSON for a dry run; otherwise what was uploaded, the cluster, the step and where its logs are."""
    if result.dry_run:
        return json.dumps(result.requests(), indent=2)
    lines = []
    for u in result.uploads:
        lines.append(f"{'uploaded ' if u.uploaded else 'unchanged'} {u.uri}")
    if result.created_cluster:
        lines.append(f"cluster   {result.cluster_id} (created; next time: --cluster-id {result.cluster_id})")
    else:
        lines.append(f"cluster   {result.cluster_id}")
    state = result.state or "submitted (not waiting; --wait follows it)"
    lines.append(f"step      {result.step_id} {result.step['Name']}: {state}")
    lines.append(f"logs      {result.log_location or 'no LogUri on the cluster: on the master node'}")
    return "\n".join(lines)
