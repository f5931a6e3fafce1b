"""The deploy itself: package, upload, optionally create a cluster, add the step, optionally wait for it."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from lakeloader.config import Config, EmrConfig, load_config
from lakeloader.emr.calls import Clients, aws_call, s3_uri
from lakeloader.emr.cluster import build_run_job_flow, check_cluster, check_emr, cluster_note, load_configurations
from lakeloader.emr.logs import explain_failure, step_log_location
from lakeloader.emr.package import Artifact, CodeBundle, Upload, build_code, project_root, upload_artifacts
from lakeloader.emr.steps import build_step, wait_for_step
from lakeloader.errors import ConfigError, UsageError

log = logging.getLogger(__name__)

# Indirections so tests can drive the wait loops with a fake clock (the defaults are the real ones).
_sleep: Callable[[float], None] = time.sleep
_clock: Callable[[], float] = time.monotonic

_CLUSTER_ID_RE = re.compile(r"^j-[0-9A-Z]+$")


def load_deploy_config(path: str, overrides: Optional[Sequence[str]] = None) -> tuple[Config, EmrConfig]:
    """The config and its `emr:` section, validated (`--set emr.x=y` overrides work too)."""
    config = load_config(path, list(overrides or []))
    return config, config.emr


@dataclass
class DeployResult:
    """What a deploy did, or (dry run) would do."""

    step: dict[str, Any]
    uploads: list[Upload]
    run_job_flow: Optional[dict[str, Any]] = None
    cluster_id: Optional[str] = None
    step_id: Optional[str] = None
    state: Optional[str] = None
    log_location: Optional[str] = None
    created_cluster: bool = False
    dry_run: bool = False

    def requests(self) -> dict[str, Any]:
        """The exact API requests (what --dry-run prints), with the upload list."""
        out: dict[str, Any] = {"uploads": [u.to_dict() for u in self.uploads]}
        if self.run_job_flow is not None:
            out["run_job_flow"] = self.run_job_flow
        job_flow = self.cluster_id or "<the JobFlowId RunJobFlow returns>"
        out["add_job_flow_steps"] = {"JobFlowId": job_flow, "Steps": [self.step]}
        return out


def deploy_step(
    config: Config,
    table: str,
    cluster_id: Optional[str],
    create_cluster: bool,
    wait: bool,
    dry_run: bool,
    run_date: Optional[dt.date],
    config_path: str,
    *,
    emr: Optional[EmrConfig] = None,
    overrides: Sequence[str] = (),
    root: Optional[Path] = None,
    bundle: Optional[CodeBundle] = None,
    clients: Optional[Clients] = None,
    sleep: Optional[Callable[[float], None]] = None,
    clock: Optional[Callable[[], float]] = None,
) -> DeployResult:
    """Package, upload (content-addressed), optionally create a cluster, add the step, optionally wait for it.

    `emr` defaults to `config.emr` once Config carries that section. A dry run builds locally and calls nothing.
    """
    emr = emr or getattr(config, "emr", None) or EmrConfig()
    sleep, clock = sleep or _sleep, clock or _clock
    t = config.table(table)
    if bool(cluster_id) == bool(create_cluster):
        raise UsageError("deploy-step: give either --cluster-id ID or --create-cluster")
    if cluster_id and not _CLUSTER_ID_RE.match(cluster_id):
        raise UsageError(f"deploy-step: --cluster-id {cluster_id!r} is not an EMR cluster id (j-XXXXXXXXXXXXX)")
    check_emr(emr, config.source_file, create_cluster)
    code_location = str(emr.code_location)
    root = root or project_root()
    bundle = bundle or build_code(root)
    config_file = Path(config_path)
    if not config_file.is_file():
        raise ConfigError(f"{config_path}: file not found")
    config_artifact = Artifact.of("config", config_file)
    planned = [Upload(a, a.uri(code_location)) for a in [*bundle.artifacts(), config_artifact]]
    step = build_step(
        t,
        emr,
        bundle.code.uri(code_location),
        bundle.job.uri(code_location),
        config_artifact.uri(code_location),
        run_date,
        overrides,
    )
    run_job_flow = None
    if create_cluster:
        run_job_flow = build_run_job_flow(emr, load_configurations(root / "conf" / "emr"), bundle, code_location)
    result = DeployResult(step, planned, run_job_flow, cluster_id, dry_run=dry_run)
    if dry_run:
        return result

    clients = clients or Clients.from_config(config.aws)
    log_uri = emr.log_uri  # where a cluster this deploy creates logs to
    if cluster_id:  # before uploading anything: a wrong id should cost one call
        # An existing cluster logs where it was told to at creation, whatever this config says.
        log_uri = s3_uri(check_cluster(clients.emr, cluster_id, bundle, code_location).get("LogUri"))
    result.uploads = upload_artifacts(clients.s3, planned)
    fresh = [u for u in result.uploads if u.uploaded]
    log.info("uploaded %d of %d files to %s (the rest were there already)", len(fresh), len(planned), code_location)
    if create_cluster:
        assert run_job_flow is not None
        cluster_id = aws_call(clients.emr.run_job_flow, "EMR RunJobFlow", **run_job_flow)["JobFlowId"]
        log.info("cluster %s starting (%s, idle timeout %d s)", cluster_id, emr.release_label, emr.idle_timeout_s)
        result.cluster_id, result.created_cluster = cluster_id, True
    assert cluster_id is not None
    added = aws_call(
        clients.emr.add_job_flow_steps, f"EMR AddJobFlowSteps on {cluster_id}", JobFlowId=cluster_id, Steps=[step]
    )
    result.step_id = added["StepIds"][0]
    result.log_location = step_log_location(log_uri, cluster_id, result.step_id)
    log.info("step %s (%s) added to %s", result.step_id, step["Name"], cluster_id)
    if not wait:
        return result
    try:
        final = wait_for_step(clients.emr, cluster_id, result.step_id, emr, sleep, clock)
    except KeyboardInterrupt:
        log.warning("stopped waiting; step %s keeps running on %s", result.step_id, cluster_id)
        raise
    result.state = final["Status"]["State"]
    log.info("step %s %s; logs: %s", result.step_id, result.state, result.log_location or "(no LogUri)")
    if result.state != "COMPLETED":
        note = cluster_note(clients.emr, cluster_id) if result.state != "FAILED" else None
        raise explain_failure(clients.s3, final, cluster_id, log_uri, emr, sleep, clock, note)
    return result
