"""`lakeloader deploy-step`: package the job, upload it content-addressed, submit it as an EMR step, wait.

Dependencies reach the nodes through the bootstrap action (bootstrap/install-lakeloader.sh, run when
`--create-cluster` starts a cluster); lakeloader's own code ships with every step (`--py-files`), so a
long-lived cluster always runs the code that was deployed. docs/deploy.md explains the choice.
This module and aws.py are the only ones that call EMR and S3 for deployment.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from lakeloader.config import (
    AwsConfig,
    Config,
    EmrConfig,
    InstanceFleetConfig,
    InstanceGroupConfig,
    TableConfig,
    load_config,
)
from lakeloader.errors import ConfigError, DeployError, LakeloaderError, UsageError

log = logging.getLogger(__name__)

STEP_JAR = "command-runner.jar"
ACTIVE_CLUSTER_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
TERMINAL_STEP_STATES = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
BOOTSTRAP_SCRIPT = "install-lakeloader.sh"
CODE_ZIP = "lakeloader.zip"
STDERR_TAIL_LINES = 20
# 1980-01-01, the earliest zip timestamp: rebuilding unchanged code gives byte-identical archives, so the
# content-addressed keys stay the same and a rerun uploads nothing.
SOURCE_DATE_EPOCH = 315532800
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# Indirections so tests can drive the wait loops with a fake clock (the defaults are the real ones).
_sleep: Callable[[float], None] = time.sleep
_clock: Callable[[], float] = time.monotonic

_CLUSTER_ID_RE = re.compile(r"^j-[0-9A-Z]+$")
_RELEASE_RE = re.compile(r"^emr-7\.[0-9]+\.[0-9]+$")
_APP_ID_RE = re.compile(r"application_[0-9]+_[0-9]+")
# How lakeloader's CLI reports a user-caused failure (`input error: ...`, `validation failed: ...`, `busy: ...`).
_LAKELOADER_ERROR_RE = re.compile(r"^(?:[a-z]+ )?(?:error|failed|busy): ")
_EXCEPTION_RE = re.compile(r"(?:Exception|Error)\b")

# Settings every lakeloader step is submitted with (the config's `emr.spark_conf` can override them).
STEP_SPARK_CONF = {
    # A second YARN attempt would rerun the whole load while the first attempt's table lock is still
    # held from another host: fail the step instead and let the operator rerun it.
    "spark.yarn.maxAppAttempts": "1",
    # The step lasts as long as the application, so the step's state is the job's state.
    "spark.yarn.submit.waitAppCompletion": "true",
}


# --------------------------------------------------------------------------- settings (the `emr:` section)


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
    if not _RELEASE_RE.match(emr.release_label):
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


def load_deploy_config(path: str, overrides: Optional[Sequence[str]] = None) -> tuple[Config, EmrConfig]:
    """The config and its `emr:` section, validated (`--set emr.x=y` overrides work too)."""
    config = load_config(path, list(overrides or []))
    return config, config.emr


# --------------------------------------------------------------------------- packaging


@dataclass(frozen=True)
class Artifact:
    """One local file to upload; its S3 key is derived from its content."""

    role: str
    path: Path
    sha256: str
    size: int

    @property
    def name(self) -> str:
        """The file name it keeps in S3 (and, for `--files`, in the driver's working directory)."""
        return self.path.name

    def uri(self, code_location: str) -> str:
        """`<code_location>/<sha256[:16]>/<name>`: a new key for new content, the same key for the same."""
        return f"{code_location.rstrip('/')}/{self.sha256[:16]}/{self.name}"

    @classmethod
    def of(cls, role: str, path: Path) -> Artifact:
        """Hash a local file."""
        data = path.read_bytes()
        return cls(role, path, hashlib.sha256(data).hexdigest(), len(data))


@dataclass(frozen=True)
class CodeBundle:
    """Everything a deploy ships except the config file: built once, reusable across deploys."""

    wheel: Artifact
    code: Artifact
    job: Artifact
    constraints: Artifact
    bootstrap: tuple[Artifact, ...]

    def artifacts(self) -> list[Artifact]:
        """In upload order."""
        return [self.wheel, self.code, self.job, self.constraints, *self.bootstrap]


def project_root() -> Path:
    """The checkout deploy-step packages: the one this module lives in (an editable install), else the cwd."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "setup.py").is_file() and (here / "jobs").is_dir() else Path.cwd()


def build_code(root: Path, dist: Optional[Path] = None) -> CodeBundle:
    """Build the wheel and the `--py-files` zip into dist/ and hash them with the job, constraints and bootstrap."""
    dist = dist or root / "dist"
    job = root / "jobs" / "ingest.py"
    constraints = root / "constraints.txt"
    scripts = sorted((root / "bootstrap").glob("*.sh"))
    for need in (job, constraints, root / "bootstrap" / BOOTSTRAP_SCRIPT):
        if not need.is_file():
            raise DeployError(f"{need}: missing from the checkout at {root}; run deploy-step from a lakeloader clone")
    dist.mkdir(parents=True, exist_ok=True)
    return CodeBundle(
        wheel=Artifact.of("wheel", build_wheel(root, dist)),
        code=Artifact.of("py-files", build_code_zip(root, dist)),
        job=Artifact.of("job", job),
        constraints=Artifact.of("constraints", constraints),
        bootstrap=tuple(Artifact.of("bootstrap", s) for s in scripts),
    )


def build_wheel(root: Path, dist: Path) -> Path:
    """`pip wheel` from a clean copy of the sources (a stale build/ cannot leak into it); reproducible bytes."""
    with tempfile.TemporaryDirectory(prefix="lakeloader-wheel-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        src.mkdir()
        for name in ("setup.py", "pyproject.toml", "setup.cfg", "MANIFEST.in"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        shutil.copytree(root / "lib", src / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(src)]
        if _can_build_without_isolation():
            cmd.insert(4, "--no-build-isolation")  # offline and faster: the running interpreter has the tools
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        log.debug("building the wheel: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wheels = sorted(out.glob("lakeloader-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DeployError(f"building the wheel failed: {last} (command: {' '.join(cmd)})")
        target = dist / wheels[0].name
        shutil.copyfile(wheels[0], target)
    return target


def _can_build_without_isolation() -> bool:
    """True when this interpreter can build a wheel itself (setuptools >= 70.1 has bdist_wheel, or `wheel`)."""
    import importlib.util

    if importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    except Exception:  # an odd version string just means: let pip isolate the build
        return False
    return (major, minor) >= (70, 1)


def build_code_zip(root: Path, dist: Path) -> Path:
    """lib/lakeloader as a zip for `spark-submit --py-files`, entries sorted and timestamps fixed."""
    package = root / "lib" / "lakeloader"
    target = dist / CODE_ZIP
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root / "lib").as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return target


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Upload:
    """One artifact's destination; `uploaded` is None in a dry run, False when the key already existed."""

    artifact: Artifact
    uri: str
    uploaded: Optional[bool] = None

    def to_dict(self) -> dict[str, Any]:
        """The upload-list entry --dry-run prints."""
        return {
            "role": self.artifact.role,
            "local": str(self.artifact.path),
            "bytes": self.artifact.size,
            "sha256": self.artifact.sha256,
            "uri": self.uri,
        }


def step_spark_conf(emr: EmrConfig, table: TableConfig) -> dict[str, str]:
    """The step's `--conf`s: lakeloader's defaults, Delta's session settings (Delta tables), then `emr.spark_conf`."""
    conf = {**STEP_SPARK_CONF, "spark.pyspark.python": emr.python}
    if table.format == "delta":
        from lakeloader.delta import DELTA_SPARK_CONF  # only Delta tables pay for the import

        conf.update(DELTA_SPARK_CONF)  # EMR's delta-defaults puts the jars on the classpath, not these
    conf.update(emr.spark_conf)
    return conf


def build_step(
    table: TableConfig,
    emr: EmrConfig,
    code_uri: str,
    job_uri: str,
    config_uri: str,
    run_date: Optional[dt.date] = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The AddJobFlowSteps step: command-runner.jar running spark-submit in cluster mode with the job's arguments."""
    config_name = config_uri.rsplit("/", 1)[1]
    args = ["spark-submit", "--deploy-mode", "cluster", "--master", "yarn", "--name", f"lakeloader-{table.name}"]
    for key, value in step_spark_conf(emr, table).items():
        args += ["--conf", f"{key}={value}"]
    # The config goes with --files: YARN puts it in the driver's working directory, where `--config <name>`
    # finds it (load_config reads local files only).
    args += ["--py-files", code_uri, "--files", config_uri, job_uri, "--config", config_name, "--table", table.name]
    if run_date is not None:
        args += ["--run-date", run_date.isoformat()]
    for item in overrides:
        if not item.startswith("emr."):  # deploy-only settings mean nothing to the job
            args += ["--set", item]
    name = f"lakeloader {table.name}" + (f" {run_date.isoformat()}" if run_date else "")
    return {"Name": name, "ActionOnFailure": "CONTINUE", "HadoopJarStep": {"Jar": STEP_JAR, "Args": args}}


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


# --------------------------------------------------------------------------- AWS calls


@dataclass(frozen=True)
class Clients:
    """The boto3 clients a deploy uses (tests pass wrapped ones)."""

    emr: Any
    s3: Any

    @classmethod
    def from_config(cls, aws: AwsConfig) -> Clients:
        """Clients with the config's region, endpoint, profile and retries."""
        from lakeloader.aws import client

        return cls(emr=client("emr", aws), s3=client("s3", aws))


def _call(fn: Callable[..., Any], what: str, **kwargs: Any) -> Any:
    """Call one AWS API; any refusal becomes a one-line DeployError saying what was attempted."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lakeloader.aws import error_code, error_message

    try:
        return fn(**kwargs)
    except ClientError as e:
        code, msg = error_code(e), error_message(e)
        hint = ""
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            hint = " (the deploying identity's permissions: conf/iam/deployer.json)"
        elif code == "NoSuchBucket":
            hint = " (create the bucket or fix emr.code_location / emr.log_uri)"
        raise DeployError(f"{what}: {code}: {msg}{hint}") from None
    except BotoCoreError as e:
        raise DeployError(f"{what}: {' '.join(str(e).split())}") from None


def split_s3(uri: str) -> tuple[str, str]:
    """('bucket', 'key') of an s3:// URI."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _object_exists(s3: Any, uri: str) -> bool:
    """HEAD the key: True when it exists, False when S3 says it does not (404, or 403 without s3:ListBucket)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lakeloader.aws import error_code, error_message

    bucket, key = split_s3(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        code = error_code(e)
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        if code in ("403", "AccessDenied"):
            # Without s3:ListBucket (conf/iam/deployer.json grants none on the code prefix) S3 answers 403 for
            # a missing key: with s3:GetObject granted, 403 means missing. Were it a real refusal, the PUT says so.
            log.debug("HEAD %s: 403, taken as missing", uri)
            return False
        raise DeployError(f"HEAD {uri}: {code}: {error_message(e)}") from None
    except BotoCoreError as e:
        raise DeployError(f"HEAD {uri}: {' '.join(str(e).split())}") from None


def upload_artifacts(s3: Any, planned: list[Upload]) -> list[Upload]:
    """Put each artifact at its content-addressed key unless that key already exists."""
    done = []
    for u in planned:
        if _object_exists(s3, u.uri):
            log.debug("unchanged %s", u.uri)
            done.append(dataclasses.replace(u, uploaded=False))
            continue
        bucket, key = split_s3(u.uri)
        body = u.artifact.path.read_bytes()
        _call(
            s3.put_object, f"upload {u.uri}", Bucket=bucket, Key=key, Body=body, Metadata={"sha256": u.artifact.sha256}
        )
        log.debug("uploaded  %s (%d bytes)", u.uri, u.artifact.size)
        done.append(dataclasses.replace(u, uploaded=True))
    return done


def _s3_uri(uri: Optional[str]) -> Optional[str]:
    """EMR reports LogUri as s3n://; the log objects are at the same s3:// key."""
    if not uri:
        return None
    for scheme in ("s3n://", "s3a://"):
        if uri.startswith(scheme):
            return "s3://" + uri[len(scheme) :]
    return uri


def check_cluster(emr_client: Any, cluster_id: str, bundle: CodeBundle, code_location: str) -> dict[str, Any]:
    """DescribeCluster: refuse a cluster that cannot take steps; warn when its nodes lack lakeloader's bootstrap."""
    cluster = _call(emr_client.describe_cluster, f"EMR cluster {cluster_id}", ClusterId=cluster_id)["Cluster"]
    status = cluster.get("Status", {})
    state = status.get("State", "UNKNOWN")
    if state not in ACTIVE_CLUSTER_STATES:
        reason = (status.get("StateChangeReason") or {}).get("Message")
        raise DeployError(
            f"EMR cluster {cluster_id} is {state}{f' ({reason})' if reason else ''}: steps can only be added to a "
            "starting, running or waiting cluster; pass a live --cluster-id or use --create-cluster"
        )
    label = cluster.get("ReleaseLabel") or ""
    if label and not _RELEASE_RE.match(label):
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


# --------------------------------------------------------------------------- waiting


def wait_for_step(
    emr_client: Any,
    cluster_id: str,
    step_id: str,
    emr: EmrConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll DescribeStep with exponential backoff until the step ends or `emr.step_timeout_s` passes."""
    started = clock()
    deadline = started + emr.step_timeout_s
    delay, last = emr.poll_s, None
    while True:
        step = _call(emr_client.describe_step, f"EMR step {step_id}", ClusterId=cluster_id, StepId=step_id)["Step"]
        state = step["Status"]["State"]
        if state != last:
            log.info("step %s on %s: %s", step_id, cluster_id, state)
            last = state
        if state in TERMINAL_STEP_STATES:
            return step
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeployError(
                f"step {step_id} on {cluster_id} is still {state} after {emr.step_timeout_s:g} s "
                f"(emr.step_timeout_s); it keeps running: follow it with `aws emr describe-step --cluster-id "
                f"{cluster_id} --step-id {step_id}` or stop it with `aws emr cancel-steps`"
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, emr.poll_max_s)


def step_log_location(log_uri: Optional[str], cluster_id: str, step_id: str) -> Optional[str]:
    """`<log_uri>/<cluster id>/steps/<step id>/`, where EMR copies the step's stdout, stderr and controller logs."""
    base = _s3_uri(log_uri)
    return f"{base.rstrip('/')}/{cluster_id}/steps/{step_id}/" if base else None


def _wait_for_object(
    s3: Any, uri: str, wait_s: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> bool:
    """True once the object exists; EMR copies logs to S3 every few minutes, so give it `wait_s`."""
    deadline, delay = clock() + wait_s, 5.0
    while True:
        try:
            if _object_exists(s3, uri):
                return True
        except DeployError as e:  # the error line will say the log is missing; this says why
            log.warning("%s", e)
            return False
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        log.info("waiting for %s (EMR copies step logs to S3 every few minutes)", uri)
        sleep(min(delay, remaining))
        delay = min(delay * 2, 60.0)


def read_log_tail(s3: Any, uri: str, lines: int = STDERR_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a (gzipped) log object."""
    bucket, key = split_s3(uri)
    body = _call(s3.get_object, f"GET {uri}", Bucket=bucket, Key=key)["Body"].read()
    if uri.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):  # EMR names it .gz; a partly written object is not worth a crash
            pass
    text = body.decode("utf-8", errors="replace").rstrip()
    return [line.rstrip() for line in text.splitlines()[-lines:]]


def _driver_log_tail(s3: Any, log_uri: str, cluster_id: str, step_tail: list[str]) -> list[str]:
    """The driver's stderr (YARN's first container) of the application the step's stderr names, if copied yet."""
    apps = _APP_ID_RE.findall("\n".join(step_tail))
    if not apps:
        return []
    prefix = f"{log_uri.rstrip('/')}/{cluster_id}/containers/{apps[-1]}/"
    bucket, key_prefix = split_s3(prefix)
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=key_prefix)
    except Exception as e:  # best effort: the step's own stderr is already in hand
        log.debug("cannot list %s: %s", prefix, e)
        return []
    keys = sorted(o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith("_000001/stderr.gz"))
    if not keys:
        return []
    try:
        return read_log_tail(s3, f"s3://{bucket}/{keys[0]}", 200)
    except DeployError as e:
        log.debug("%s", e)
        return []


def root_cause(lines: Sequence[str]) -> Optional[str]:
    """The most telling line of a log tail: lakeloader's own one-line error, else the last exception line."""
    stripped = [line.strip() for line in lines if line.strip()]
    for line in reversed(stripped):
        if _LAKELOADER_ERROR_RE.match(line):
            return line
    for line in reversed(stripped):
        if _EXCEPTION_RE.search(line) and not line.startswith("at "):
            return line
    return stripped[-1] if stripped else None


def explain_failure(
    s3: Any,
    step: dict[str, Any],
    cluster_id: str,
    log_uri: Optional[str],
    emr: EmrConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    cluster_note: Optional[str] = None,
) -> DeployError:
    """A one-line error for a step that ended FAILED (or CANCELLED/INTERRUPTED), with the stderr tail as detail.

    `cluster_note` says why the cluster stopped, for a step that never ran (e.g. a failed bootstrap action).
    """
    step_id, state, name = step["Id"], step["Status"]["State"], step.get("Name", "")
    location = step_log_location(log_uri, cluster_id, step_id)
    details = step["Status"].get("FailureDetails") or {}
    reason = (
        details.get("Message")
        or details.get("Reason")
        or (step["Status"].get("StateChangeReason") or {}).get("Message")
    )
    tail: list[str] = []
    cause = None
    if location and state == "FAILED":
        stderr_uri = location + "stderr.gz"
        if _wait_for_object(s3, stderr_uri, emr.log_wait_s, sleep, clock):
            tail = read_log_tail(s3, stderr_uri)
            # In cluster mode the step's stderr is spark-submit's; lakeloader's own one-line error is in the
            # driver's log, which names the cause far better when it is there.
            driver_cause = root_cause(_driver_log_tail(s3, _s3_uri(log_uri) or "", cluster_id, tail))
            if driver_cause and _LAKELOADER_ERROR_RE.match(driver_cause):
                cause = driver_cause
            else:
                cause = root_cause(tail)
        else:
            cause = (
                f"no stderr.gz in {location} yet after {emr.log_wait_s:g} s (EMR copies step logs every few minutes)"
            )
    where = f"; logs: {location}" if location else "; the cluster has no LogUri: logs are on the master node"
    text = cause or reason or "no reason given by EMR"
    if state != "FAILED":
        text = "; ".join(filter(None, [reason, cluster_note])) or text
    return DeployError(f"step {step_id} ({name}) {state} on {cluster_id}: {text}{where}", detail=tail)


# --------------------------------------------------------------------------- the deploy


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
        log_uri = _s3_uri(check_cluster(clients.emr, cluster_id, bundle, code_location).get("LogUri"))
    result.uploads = upload_artifacts(clients.s3, planned)
    fresh = [u for u in result.uploads if u.uploaded]
    log.info("uploaded %d of %d files to %s (the rest were there already)", len(fresh), len(planned), code_location)
    if create_cluster:
        assert run_job_flow is not None
        cluster_id = _call(clients.emr.run_job_flow, "EMR RunJobFlow", **run_job_flow)["JobFlowId"]
        log.info("cluster %s starting (%s, idle timeout %d s)", cluster_id, emr.release_label, emr.idle_timeout_s)
        result.cluster_id, result.created_cluster = cluster_id, True
    assert cluster_id is not None
    added = _call(
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
        note = _cluster_note(clients.emr, cluster_id) if result.state != "FAILED" else None
        raise explain_failure(clients.s3, final, cluster_id, log_uri, emr, sleep, clock, note)
    return result


def _cluster_note(emr_client: Any, cluster_id: str) -> Optional[str]:
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


# --------------------------------------------------------------------------- command line


def add_deploy_parser(subparsers: Any, date_type: Callable[[str], dt.date]) -> None:
    """Define the `deploy-step` subcommand on the CLI's subparsers; `date_type` parses --run-date."""
    p = subparsers.add_parser(
        "deploy-step",
        help="package the job, upload it and submit it as an EMR step (optionally on a new cluster)",
        description="Build the wheel and the job's code, upload them content-addressed under emr.code_location "
        "(unchanged files are not uploaded again), add a spark-submit step running jobs/ingest.py, and with --wait "
        "follow it to the end. Docs: docs/deploy.md.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="environment config with an emr: section")
    p.add_argument("--table", required=True, metavar="NAME", help="a table under 'tables:' in the config")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--cluster-id", metavar="ID", help="a running EMR cluster (j-...)")
    where.add_argument("--create-cluster", action="store_true", help="start a cluster from the emr: section")
    p.add_argument("--wait", action="store_true", help="follow the step to its end; exit non-zero unless COMPLETED")
    p.add_argument("--dry-run", action="store_true", help="print the uploads and API requests as JSON; call nothing")
    p.add_argument("--run-date", type=date_type, metavar="YYYY-MM-DD", help="passed to the job ({run_date} in paths)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable); forwarded to the job unless it is an emr.* key",
    )


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
