"""The EMR cluster: the `emr:` settings checked, the RunJobFlow request, and an existing cluster checked."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Optional

from lakeloader.config import EmrConfig, InstanceFleetConfig, InstanceGroupConfig
from lakeloader.emr.calls import aws_call
from lakeloader.emr.package import BOOTSTRAP_SCRIPT, CodeBundle
from lakeloader.errors import ConfigError, DeployError

log = logging.getLogger(__name__)

ACTIVE_CLUSTER_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
RELEASE_RE = re.compile(r"^emr-7\.[0-9]+\.[0-9]+$")


def check_emr(emr: EmrConfig, src: str, create_cluster: bool) -> None:
    """Refuse settings EMR would reject later (or that would make the deploy fail half-way), naming the key."""

    def err(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{src}: emr.{key}: {msg}")

    if not emr.code_location:
        raise err("code_location", "required for deploy-step: an s3://bucket/prefix for the job's code")
    if not emr.code_location.startswith("s3://") or len(emr.code_location.rstrip("/")) <= len("s3://"):
        raise err("code_location", f"{emr.code_location!r} is not an s3://bucket/prefix URI")
    if emr.log_uri is not None and not emr.log_uri.startswith("s3://"):
        raise err("log_uri", f"{emr.log_uri!r} is not an s3://bucket/prefix URI")
    if create_cluster and not emr.log_uri:
        raise err("log_uri", "required with --create-cluster: without it EMR keeps step logs only on the nodes")
    if not RELEASE_RE.match(emr.release_label):
        raise err("release_label", f"{emr.release_label!r}: use an EMR 7.x release (Spark 3.5), e.g. emr-7.10.0")
    if emr.instance_groups and emr.instance_fleets:
        raise err("instance_fleets", "give instance_groups or instance_fleets, not both")
    units: list[Any] = emr.instance_fleets or emr.groups
    kind = "instance_fleets" if emr.instance_fleets else "instance_groups"
    roles = [u.role for u in units]
    if roles.count("MASTER") != 1:
        raise err(kind, f"exactly one MASTER entry is needed (found {roles.count('MASTER')})")
    if roles.count("CORE") > 1:
        raise err(kind, "at most one CORE entry")
    for i, u in enumerate(units):
        if u.ebs_gb < 0:
            raise err(f"{kind}[{i}].ebs_gb", "must be 0 (the instance type's default storage) or positive")
        if isinstance(u, InstanceGroupConfig) and u.count < 1:
            raise err(f"{kind}[{i}].count", "must be at least 1")
        if isinstance(u, InstanceFleetConfig):
            if not u.instance_types:
                raise err(f"{kind}[{i}].instance_types", "list at least one instance type")
            if u.on_demand < 0 or u.spot < 0 or u.on_demand + u.spot < 1:
                raise err(f"{kind}[{i}]", "on_demand + spot must be at least 1 (units of capacity)")
    if len(emr.subnet_ids) > 1 and not emr.instance_fleets:
        raise err("subnet_ids", "instance groups run in one subnet; several subnets need instance_fleets")
    if not 60 <= emr.idle_timeout_s <= 7 * 24 * 3600:
        raise err("idle_timeout_s", "EMR accepts 60 s to 7 days")
    for key in ("step_timeout_s", "poll_s", "poll_max_s"):
        if getattr(emr, key) <= 0:
            raise err(key, "must be positive")
    if emr.poll_max_s < emr.poll_s:
        raise err("poll_max_s", "must be at least poll_s")
    if emr.log_wait_s < 0:
        raise err("log_wait_s", "must be 0 or positive")
    for key in emr.spark_conf:
        if not key.startswith("spark."):
            raise err(f"spark_conf.{key}", "Spark settings start with 'spark.'")


def load_configurations(folder: Path) -> list[dict[str, Any]]:
    """EMR `Configurations` from conf/emr/*.json (one classification per file, in file-name order)."""
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}") from None
        if not isinstance(item, dict) or not isinstance(item.get("Classification"), str):
            raise ConfigError(f"{path}: expected one object with a 'Classification' string")
        props = item.get("Properties", {})
        if not isinstance(props, dict) or not all(isinstance(v, str) for v in props.values()):
            raise ConfigError(f"{path}: 'Properties' must map names to strings (EMR takes \"true\", not true)")
        unknown = set(item) - {"Classification", "Properties", "Configurations"}
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
        out.append(item)
    if not out:
        raise ConfigError(f"{folder}: no *.json EMR configurations (spark-defaults, spark-hive-site, ...)")
    return out


def _ebs(gb: int) -> dict[str, Any]:
    spec = {"VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": gb}, "VolumesPerInstance": 1}
    return {"EbsBlockDeviceConfigs": [spec], "EbsOptimized": True}


def build_instances(emr: EmrConfig) -> dict[str, Any]:
    """RunJobFlow's `Instances`: groups or fleets, kept alive between steps (idle auto-termination ends it)."""
    inst: dict[str, Any] = {"KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False}
    if emr.instance_fleets:
        fleets = []
        for f in emr.instance_fleets:
            types = []
            for t in f.instance_types:
                types.append({"InstanceType": t, **({"EbsConfiguration": _ebs(f.ebs_gb)} if f.ebs_gb else {})})
            fleet: dict[str, Any] = {"Name": f.name or f.role.lower(), "InstanceFleetType": f.role}
            fleet.update(TargetOnDemandCapacity=f.on_demand, TargetSpotCapacity=f.spot, InstanceTypeConfigs=types)
            fleets.append(fleet)
        inst["InstanceFleets"] = fleets
        if emr.subnet_ids:
            inst["Ec2SubnetIds"] = list(emr.subnet_ids)
    else:
        groups = []
        for g in emr.groups:
            group: dict[str, Any] = {"Name": g.name or g.role.lower(), "InstanceRole": g.role, "Market": g.market}
            group.update(InstanceType=g.instance_type, InstanceCount=g.count)
            if g.ebs_gb:
                group["EbsConfiguration"] = _ebs(g.ebs_gb)
            groups.append(group)
        inst["InstanceGroups"] = groups
        if emr.subnet_ids:
            inst["Ec2SubnetId"] = emr.subnet_ids[0]
    if emr.key_name:
        inst["Ec2KeyName"] = emr.key_name
    return inst


def build_run_job_flow(
    emr: EmrConfig, configurations: list[dict[str, Any]], bundle: CodeBundle, code_location: str
) -> dict[str, Any]:
    """The RunJobFlow request: EMR 7.x with Hadoop and Spark, conf/emr/*.json, the bootstrap actions, idle timeout."""
    boot_args = [bundle.wheel.uri(code_location), bundle.constraints.uri(code_location), emr.python]
    request: dict[str, Any] = {
        "Name": emr.cluster_name,
        "ReleaseLabel": emr.release_label,
        "LogUri": emr.log_uri,
        "Applications": [{"Name": "Hadoop"}, {"Name": "Spark"}],
        "Configurations": configurations,
        "BootstrapActions": [
            # Every bootstrap/*.sh gets the same arguments: the wheel, the constraints, the Python to install into.
            {"Name": a.path.stem, "ScriptBootstrapAction": {"Path": a.uri(code_location), "Args": boot_args}}
            for a in bundle.bootstrap
        ],
        "Instances": build_instances(emr),
        "ServiceRole": emr.service_role,
        "JobFlowRole": emr.instance_profile,
        "AutoTerminationPolicy": {"IdleTimeout": emr.idle_timeout_s},
        "VisibleToAllUsers": True,
    }
    if emr.tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in emr.tags.items()]
    return request


def check_cluster(emr_client: Any, cluster_id: str, bundle: CodeBundle, code_location: str) -> dict[str, Any]:
    """DescribeCluster: refuse a cluster that cannot take steps; warn when its nodes lack lakeloader's bootstrap."""
    cluster = aws_call(emr_client.describe_cluster, f"EMR cluster {cluster_id}", ClusterId=cluster_id)["Cluster"]
    status = cluster.get("Status", {})
    state = status.get("State", "UNKNOWN")
    if state not in ACTIVE_CLUSTER_STATES:
        reason = (status.get("StateChangeReason") or {}).get("Message")
        raise DeployError(
            f"EMR cluster {cluster_id} is {state}{f' ({reason})' if reason else ''}: steps can only be added to a "
            "starting, running or waiting cluster; pass a live --cluster-id or use --create-cluster"
        )
    label = cluster.get("ReleaseLabel") or ""
    if label and not RELEASE_RE.match(label):
        log.warning("cluster %s runs %s; lakeloader is built for EMR 7.x (Spark 3.5)", cluster_id, label)
    _check_bootstrap(emr_client, cluster_id, bundle, code_location)
    return cluster


def _check_bootstrap(emr_client: Any, cluster_id: str, bundle: CodeBundle, code_location: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        actions = emr_client.list_bootstrap_actions(ClusterId=cluster_id).get("BootstrapActions", [])
    except (ClientError, BotoCoreError) as e:  # only a warning depends on it: not worth failing the deploy
        log.debug("cannot list bootstrap actions of %s: %s", cluster_id, e)
        return
    ours = [a for a in actions if str(a.get("ScriptPath", "")).endswith("/" + BOOTSTRAP_SCRIPT)]
    if not ours:
        log.warning(
            "cluster %s was not started with %s: its nodes may lack lakeloader's dependencies "
            "(start one with --create-cluster)",
            cluster_id,
            BOOTSTRAP_SCRIPT,
        )
        return
    args = ours[0].get("Args") or []
    if len(args) > 1 and args[1] != bundle.constraints.uri(code_location):
        log.warning(
            "cluster %s was bootstrapped with another constraints.txt (%s): its nodes' dependencies may differ "
            "from this checkout's pins; the code itself ships with the step",
            cluster_id,
            args[1],
        )


def cluster_note(emr_client: Any, cluster_id: str) -> Optional[str]:
    """'cluster TERMINATED_WITH_ERRORS: <reason>' when the cluster is no longer up (why a step was cancelled)."""
    try:
        status = emr_client.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
    except Exception as e:  # best effort: the step's own state is already the error
        log.debug("cannot describe %s: %s", cluster_id, e)
        return None
    if status.get("State") in ("RUNNING", "WAITING"):
        return None
    reason = (status.get("StateChangeReason") or {}).get("Message")
    return f"cluster {status.get('State')}" + (f": {reason}" if reason else "")
