"""`lakeloader schedule`: parser and handler; the work is in resources.py, apply.py, stepfunctions.py, airflow.py."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Optional

from lakeloader.config import Config, load_config
from lakeloader.errors import ConfigError, UsageError

log = logging.getLogger(__name__)
VALIDATE_JOB = "validate.py"


def add_schedule_parser(subparsers: Any) -> None:  # noqa: ANN401
    """Define the `schedule` subcommand on the CLI's subparsers."""
    p = subparsers.add_parser(
        "schedule",
        help="create or update the daily loads on AWS (EventBridge Scheduler, Step Functions, EMR) or an Airflow DAG",
        description="Per table under schedule.tables: upload the job's code (content-addressed, like deploy-step), "
        "then create or update an EventBridge Scheduler schedule that starts a Step Functions state machine: "
        "(transient) EMR cluster, the load step, the validation step, terminate, and a loud failure (SNS, and "
        "the execution fails). Idempotent: the same config changes nothing; a table removed from schedule.tables "
        "loses its schedule and state machine. With --airflow-dag, write the same as an Airflow DAG file instead. "
        "Docs: docs/schedule.md.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="environment config with emr: and schedule:")
    p.add_argument("--tables", metavar="A,B,...", help="only these scheduled tables (nothing is deleted then)")
    p.add_argument("--dry-run", action="store_true", help="print what would be created as JSON; call no AWS API")
    p.add_argument("--airflow-dag", metavar="PATH", help="write an Airflow DAG file (MWAA) instead; no AWS call")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable); forwarded to the job unless it is an emr.* or schedule.* key",
    )  # fmt: skip


def cmd_schedule(args: argparse.Namespace) -> int:
    """`lakeloader schedule`."""
    from lakeloader import emr
    from lakeloader.schedule import apply, resources

    if args.airflow_dag and not args.airflow_dag.endswith(".py"):
        raise UsageError(f"--airflow-dag {args.airflow_dag}: Airflow loads DAGs from .py files")
    config = load_config(args.config, args.set)
    tables = resources.check_tables(config, parse_tables(args.tables))
    steps, run_job_flow, uploads = build_requests(config, tables, args.config, args.set)
    if args.airflow_dag:
        from lakeloader.schedule.airflow import render_dag

        _write_dag(args.airflow_dag, render_dag(config, tables, steps, run_job_flow))
        print(f"wrote {args.airflow_dag}: {len(tables)} DAG(s); upload the code first: lakeloader schedule --config "
              f"{args.config} uploads it, or copy these: " + ", ".join(u.uri for u in uploads))  # fmt: skip
        return 0
    if args.dry_run:
        plan = resources.build_plan(config, tables, steps, run_job_flow)
        print(json.dumps({"uploads": [u.to_dict() for u in uploads], **plan.to_dict()}, indent=2))
        return 0
    clients = apply.Clients.from_config(config)
    plan = resources.build_plan(config, tables, steps, run_job_flow, apply.account_id(clients))
    done = emr.upload_artifacts(emr.Clients.from_config(config.aws).s3, uploads)
    log.info("uploaded %d of %d files to %s", sum(bool(u.uploaded) for u in done), len(done), config.emr.code_location)
    # moto has no ValidateStateMachineDefinition: against a local endpoint the local ASL check stands alone.
    changes = apply.apply_plan(clients, plan, prune=not args.tables, validate_remote=not config.aws.endpoint_url)
    width = max(len(c.kind) for c in changes)
    for c in changes:
        print(f"{c.kind.ljust(width)}  {c.action.ljust(9)}  {c.name}")
    counts = {a: sum(c.action == a for c in changes) for a in ("created", "updated", "deleted", "unchanged")}
    print(", ".join(f"{n} {a}" for a, n in counts.items()))
    return 0


def build_requests(
    config: Config, tables: list[str], config_path: str, overrides: list[str]
) -> tuple[dict[str, tuple[dict[str, Any], dict[str, Any]]], Optional[dict[str, Any]], list[Any]]:
    """Per table its (load, validate) EMR steps, the RunJobFlow request (transient clusters) and the uploads.

    The same builders as deploy-step: the code is packaged and addressed by content the same way.
    """
    from lakeloader import emr

    transient = config.schedule.cluster == "transient"
    emr.check_emr(config.emr, config.source_file, transient)
    root = emr.project_root()
    bundle = emr.build_code(root)
    code_location = str(config.emr.code_location)
    validate_job = root / "jobs" / VALIDATE_JOB
    if not validate_job.is_file():
        raise ConfigError(f"{validate_job}: missing from the checkout; run schedule from a lakeloader clone")
    config_artifact = emr.Artifact.of("config", Path(config_path))
    validate_artifact = emr.Artifact.of("job", validate_job)
    forwarded = [s for s in overrides if not s.startswith("schedule.")]
    code_uri, config_uri = bundle.code.uri(code_location), config_artifact.uri(code_location)
    steps = {}
    for name in tables:
        table = config.table(name)
        load = emr.build_step(table, config.emr, code_uri, bundle.job.uri(code_location), config_uri, None,
                                 forwarded)  # fmt: skip
        validate = emr.build_step(table, config.emr, code_uri, validate_artifact.uri(code_location), config_uri,
                                     None, forwarded)  # fmt: skip
        validate["Name"] = f"lakeloader validate {name}"
        steps[name] = (load, validate)
    run_job_flow = None
    if transient:
        configurations = emr.load_configurations(root / "conf" / "emr")
        run_job_flow = emr.build_run_job_flow(config.emr, configurations, bundle, code_location)
    artifacts = [*bundle.artifacts(), validate_artifact, config_artifact]
    return steps, run_job_flow, [emr.Upload(a, a.uri(code_location)) for a in artifacts]


def _write_dag(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--airflow-dag {path}: cannot write ({e.strerror})") from None


def parse_tables(text: Optional[str]) -> Optional[list[str]]:
    """`a,b` -> ['a', 'b']."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else None
