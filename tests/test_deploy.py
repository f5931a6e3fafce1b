"""deploy-step against a moto server (S3, EMR): packaging, content-addressed upload, cluster creation, the step,
the wait loop through the states moto reports, failures as one line; plus the IAM policies and bootstrap scripts."""

from __future__ import annotations

import dataclasses
import fnmatch
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from conftest import events_table
from lakeloader.cli.deploy import cmd_deploy_step
from lakeloader.cli.parser import build_parser
from lakeloader.config import EmrConfig, InstanceFleetConfig, InstanceGroupConfig
from lakeloader.emr import Clients, build_code, check_emr, deploy, deploy_step, load_deploy_config, split_s3
from lakeloader.errors import DeployError

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"  # moto's account for the test credentials
REGION = "us-east-1"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def snapshot(checkout_snapshot) -> Path:
    return checkout_snapshot


@pytest.fixture
def bundle(code_bundle):
    return code_bundle


@pytest.fixture
def buckets(moto_endpoint):
    """Fresh code and log buckets on the moto server."""
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    names = {"code": f"code-{uuid.uuid4().hex[:8]}", "logs": f"logs-{uuid.uuid4().hex[:8]}"}
    for name in names.values():
        s3.create_bucket(Bucket=name)
    return names


@pytest.fixture
def env(moto_endpoint, buckets, write_config, bundle, monkeypatch):
    """A config on the moto server, a fake clock driving every wait, and handles on S3 and EMR."""
    clock = FakeClock()
    monkeypatch.setattr(deploy, "_sleep", clock.sleep)
    monkeypatch.setattr(deploy, "_clock", clock.now)
    monkeypatch.setattr(deploy, "build_code", lambda root, dist=None: bundle)  # built once, above
    emr_section = {
        "code_location": f"s3://{buckets['code']}/lakeloader",
        "log_uri": f"s3://{buckets['logs']}/emr/",
        "service_role": "lakeloader-emr-service",
        "instance_profile": "lakeloader-emr-instance",
        "instance_groups": [
            {"role": "MASTER", "instance_type": "m5.xlarge"},
            {"role": "CORE", "instance_type": "r5.2xlarge", "count": 2, "ebs_gb": 64},
        ],
        "python": "python3.11",
        "spark_conf": {"spark.driver.memory": "8g"},
        "tags": {"project": "lakeloader", "env": "test"},
        "idle_timeout_s": 900,
        "step_timeout_s": 600,
        "poll_s": 5,
        "poll_max_s": 30,
        "log_wait_s": 20,
    }
    path = write_config(
        {"events": events_table(source={"path": "hdfs:///data/events/{run_date:%Y/%m/%d}/", "format": "csv"})},
        warehouse="s3://lake/warehouse",
        catalog={"kind": "glue"},
        query={"engine": "athena", "workgroup": "lakeloader", "output_location": "s3://lake/athena/"},
        aws={"region": REGION, "endpoint_url": moto_endpoint},
        emr=emr_section,
    )
    return {
        "config": path,
        "clock": clock,
        "s3": boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION),
        "emr": boto3.client("emr", endpoint_url=moto_endpoint, region_name=REGION),
        "buckets": buckets,
        "bundle": bundle,
        "endpoint": moto_endpoint,
    }


class FakeClock:
    """sleep() advances time instantly and runs `on_sleep` hooks (e.g. moving a moto step to its next state)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: list[Any] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        if self.on_sleep:
            self.on_sleep.pop(0)()


def moto_steps(cluster_id: str) -> list:
    """The moto server's own step objects (it runs in this process): the test plays EMR's step runner."""
    from moto.emr.models import emr_backends

    return emr_backends[ACCOUNT][REGION].clusters[cluster_id].steps


def set_state(cluster_id: str, index: int, state: str) -> None:
    moto_steps(cluster_id)[index].state = state


def run_cli(*argv: str) -> int:
    return cmd_deploy_step(build_parser().parse_args(list(argv)))  # the real CLI's parser


def start_cluster(emr: Any, tags: bool = True) -> str:
    """A running cluster made directly (as an operator would), tagged like lakeloader's."""
    kwargs: dict[str, Any] = {
        "Name": "existing",
        "ReleaseLabel": "emr-7.10.0",
        "LogUri": None,
        "Instances": {
            "InstanceGroups": [
                {"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1, "Market": "ON_DEMAND"}
            ],
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        "ServiceRole": "svc",
        "JobFlowRole": "prof",
    }
    if tags:
        kwargs["Tags"] = [{"Key": "project", "Value": "lakeloader"}]
    return emr.run_job_flow(**{k: v for k, v in kwargs.items() if v is not None})["JobFlowId"]


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def count_calls(client: Any, service: str, operation: str) -> list[dict]:
    """Record the parameters of every `operation` call made through `client`."""
    seen: list[dict] = []
    client.meta.events.register(f"provide-client-params.{service}.{operation}", lambda params, **_: seen.append(params))
    return seen


def load(env: dict) -> tuple:
    return load_deploy_config(env["config"])


def clients(env: dict) -> Clients:
    return Clients(emr=env["emr"], s3=env["s3"])


# --------------------------------------------------------------------------- dry run


def expected_args(env: dict, config_name: str = "lakeloader.yaml", run_date: str = "2024-05-01") -> list[str]:
    b, code = env["bundle"], f"s3://{env['buckets']['code']}/lakeloader"
    config_sha = hashlib.sha256(Path(env["config"]).read_bytes()).hexdigest()
    return [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--master",
        "yarn",
        "--name",
        "lakeloader-events",
        "--conf",
        "spark.yarn.maxAppAttempts=1",
        "--conf",
        "spark.yarn.submit.waitAppCompletion=true",
        "--conf",
        "spark.pyspark.python=python3.11",
        "--conf",
        "spark.driver.memory=8g",
        "--py-files",
        f"{code}/{b.code.sha256[:16]}/lakeloader.zip",
        "--files",
        f"{code}/{config_sha[:16]}/{config_name}",
        f"{code}/{b.job.sha256[:16]}/ingest.py",
        "--config",
        config_name,
        "--table",
        "events",
        "--run-date",
        run_date,
        "--set",
        "tables.events.mode=append",
    ]


def test_dry_run_prints_the_exact_step_and_upload_list_and_calls_nothing(env, capsys, monkeypatch):
    def no_aws(*args, **kwargs):
        raise AssertionError("a dry run made an AWS client")

    monkeypatch.setattr("lakeloader.aws.client", no_aws)
    rc = run_cli(
        "deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", "j-2AXXXXXXGAPLF",
        "--dry-run", "--run-date", "2024-05-01", "--set", "tables.events.mode=append", "--set", "emr.poll_s=1",
    )  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"uploads", "add_job_flow_steps"}
    request = out["add_job_flow_steps"]
    assert request["JobFlowId"] == "j-2AXXXXXXGAPLF"
    (step,) = request["Steps"]
    assert set(step) == {"Name", "ActionOnFailure", "HadoopJarStep"}
    assert step["Name"] == "lakeloader events 2024-05-01"
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert set(step["HadoopJarStep"]) == {"Jar", "Args"}
    # emr.* overrides are deploy settings: not forwarded to the job
    assert step["HadoopJarStep"]["Args"] == expected_args(env)

    uploads = out["uploads"]
    assert [u["role"] for u in uploads] == ["wheel", "py-files", "job", "constraints", "bootstrap", "config"]
    for u in uploads:
        data = Path(u["local"]).read_bytes()
        assert u["sha256"] == hashlib.sha256(data).hexdigest() and u["bytes"] == len(data)
        name = Path(u["local"]).name
        assert u["uri"] == f"s3://{env['buckets']['code']}/lakeloader/{u['sha256'][:16]}/{name}"
    assert keys(env["s3"], env["buckets"]["code"]) == []


def test_dry_run_create_cluster_shows_run_job_flow(env):
    config, emr = load(env)
    result = deploy_step(config, "events", None, True, False, True, None, env["config"], emr=emr, clients=None)
    req = result.requests()
    assert req["add_job_flow_steps"]["JobFlowId"] == "<the JobFlowId RunJobFlow returns>"
    rjf = req["run_job_flow"]
    assert re.match(r"^emr-7\.\d+\.\d+$", rjf["ReleaseLabel"])
    assert rjf["Applications"] == [{"Name": "Hadoop"}, {"Name": "Spark"}]
    assert rjf["LogUri"] == f"s3://{env['buckets']['logs']}/emr/"
    assert rjf["AutoTerminationPolicy"] == {"IdleTimeout": 900}
    assert (rjf["ServiceRole"], rjf["JobFlowRole"]) == ("lakeloader-emr-service", "lakeloader-emr-instance")
    assert rjf["Tags"] == [{"Key": "project", "Value": "lakeloader"}, {"Key": "env", "Value": "test"}]
    classes = {c["Classification"]: c["Properties"] for c in rjf["Configurations"]}
    assert set(classes) == {"spark", "spark-defaults", "spark-hive-site", "emrfs-site", "delta-defaults"}
    assert classes["spark"] == {"maximizeResourceAllocation": "true"}
    assert classes["spark-hive-site"]["hive.metastore.client.factory.class"] == (
        "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"
    )
    defaults = classes["spark-defaults"]
    assert defaults["spark.sql.parquet.fs.optimized.committer.optimization-enabled"] == "true"
    assert defaults["spark.sql.sources.commitProtocolClass"].endswith("SQLEmrOptimizedCommitProtocol")
    assert defaults["spark.sql.sources.partitionOverwriteMode"] == "static"  # the committer needs static
    b, code = env["bundle"], f"s3://{env['buckets']['code']}/lakeloader"
    (action,) = rjf["BootstrapActions"]
    assert action["ScriptBootstrapAction"] == {
        "Path": f"{code}/{b.bootstrap[0].sha256[:16]}/install-lakeloader.sh",
        "Args": [f"{code}/{b.wheel.sha256[:16]}/{b.wheel.name}", f"{code}/{b.constraints.sha256[:16]}/constraints.txt",
                 "python3.11"],
    }  # fmt: skip
    inst = rjf["Instances"]
    assert inst["KeepJobFlowAliveWhenNoSteps"] is True
    assert [(g["InstanceRole"], g["InstanceType"], g["InstanceCount"]) for g in inst["InstanceGroups"]] == [
        ("MASTER", "m5.xlarge", 1),
        ("CORE", "r5.2xlarge", 2),
    ]
    assert inst["InstanceGroups"][1]["EbsConfiguration"]["EbsBlockDeviceConfigs"][0]["VolumeSpecification"] == {
        "VolumeType": "gp3",
        "SizeInGB": 64,
    }


def test_prod_config_builds_instance_fleets(bundle, monkeypatch):
    monkeypatch.setattr(deploy, "build_code", lambda root, dist=None: bundle)
    config, emr = load_deploy_config(str(ROOT / "conf" / "prod.yaml"))
    result = deploy_step(config, "events", None, True, False, True, None, str(ROOT / "conf" / "prod.yaml"), emr=emr)
    inst = result.run_job_flow["Instances"]
    assert "InstanceGroups" not in inst
    assert [(f["InstanceFleetType"], f["TargetOnDemandCapacity"], f["TargetSpotCapacity"]) for f in
            inst["InstanceFleets"]] == [("MASTER", 1, 0), ("CORE", 8, 0), ("TASK", 0, 16)]  # fmt: skip
    assert inst["Ec2SubnetIds"] == emr.subnet_ids


# --------------------------------------------------------------------------- against moto


def test_create_cluster_upload_submit_and_wait(env, caplog):
    caplog.set_level(logging.INFO, logger="lakeloader.emr")
    config, emr = load(env)
    sent_rjf = count_calls(env["emr"], "emr", "RunJobFlow")
    holder: dict = {}
    # moto starts the first step of a cluster as RUNNING and never moves it: play EMR's step runner.
    env["clock"].on_sleep = [lambda: None, lambda: set_state(holder["cid"], 0, "COMPLETED")]
    result = deploy_step(
        config, "events", None, True, True, False, None, env["config"], emr=emr, clients=_Recording(env, holder)
    )
    cid, sid = result.cluster_id, result.step_id
    assert result.created_cluster and result.state == "COMPLETED"
    assert result.log_location == f"s3://{env['buckets']['logs']}/emr/{cid}/steps/{sid}/"

    # The cluster, as EMR (moto) recorded it.
    cluster = env["emr"].describe_cluster(ClusterId=cid)["Cluster"]
    assert cluster["ReleaseLabel"] == emr.release_label
    assert {a["Name"] for a in cluster["Applications"]} == {"Hadoop", "Spark"}
    assert {c["Classification"] for c in cluster["Configurations"]} == {
        "spark", "spark-defaults", "spark-hive-site", "emrfs-site", "delta-defaults"
    }  # fmt: skip
    assert {t["Key"]: t["Value"] for t in cluster["Tags"]} == {"project": "lakeloader", "env": "test"}
    (boot,) = env["emr"].list_bootstrap_actions(ClusterId=cid)["BootstrapActions"]
    assert boot["ScriptPath"].endswith("/install-lakeloader.sh") and boot["Args"][2] == "python3.11"
    assert sent_rjf[0]["AutoTerminationPolicy"] == {"IdleTimeout": 900}  # moto does not keep it: check the request

    # The step, as EMR recorded it.
    step = env["emr"].describe_step(ClusterId=cid, StepId=sid)["Step"]
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == result.step["HadoopJarStep"]["Args"]

    # Every artifact at its content-addressed key, byte for byte.
    for u in result.uploads:
        assert u.uploaded is True
        bucket, key = split_s3(u.uri)
        body = env["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == u.artifact.sha256
    # The wait polled with backoff and logged each state once, then the log location.
    assert env["clock"].sleeps == [5, 10]
    states = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"step {sid} on")]
    assert states == [f"step {sid} on {cid}: RUNNING", f"step {sid} on {cid}: COMPLETED"]
    assert any(result.log_location in r.getMessage() for r in caplog.records)


class _Recording:
    """Clients whose EMR client notes the new cluster id (so the fake step runner can find it)."""

    def __init__(self, env: dict, holder: dict) -> None:
        self.s3 = env["s3"]
        self.emr = _EmrSpy(env["emr"], holder)


class _EmrSpy:
    def __init__(self, inner: Any, holder: dict) -> None:
        self._inner, self._holder = inner, holder

    def run_job_flow(self, **kwargs: Any) -> dict:
        out = self._inner.run_job_flow(**kwargs)
        self._holder["cid"] = out["JobFlowId"]
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_existing_cluster_pending_running_completed_via_cli(env, capsys, caplog):
    caplog.set_level(logging.INFO, logger="lakeloader.emr")
    cid = start_cluster(env["emr"])
    # Another step is already running, so moto reports ours PENDING until that one completes.
    env["emr"].add_job_flow_steps(
        JobFlowId=cid, Steps=[{"Name": "other", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}]
    )
    env["clock"].on_sleep = [
        lambda: None,
        lambda: (set_state(cid, 0, "COMPLETED"), set_state(cid, 1, "RUNNING")),
        lambda: None,
        lambda: None,
        lambda: set_state(cid, 1, "COMPLETED"),
    ]
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", cid, "--wait")
    out = capsys.readouterr().out
    assert rc == 0, out
    sid = moto_steps(cid)[1].id
    states = [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records if r.getMessage().startswith(f"step {sid} on")]
    assert states == ["PENDING", "RUNNING", "COMPLETED"]
    assert env["clock"].sleeps == [5, 10, 20, 30, 30]  # doubling, capped at poll_max_s
    assert f"step      {sid} lakeloader events: COMPLETED" in out
    # The existing cluster has no LogUri in this test: the output says where the logs are instead.
    assert "logs      no LogUri on the cluster" in out
    assert f"cluster   {cid}" in out


def test_second_deploy_uploads_nothing_and_a_changed_config_uploads_only_itself(env):
    cid = start_cluster(env["emr"])
    config, emr = load(env)
    puts = count_calls(env["s3"], "s3", "PutObject")
    first = deploy_step(config, "events", cid, False, False, False, None, env["config"], emr=emr, clients=clients(env))
    assert [u.uploaded for u in first.uploads] == [True] * 6 and len(puts) == 6
    before = keys(env["s3"], env["buckets"]["code"])

    second = deploy_step(config, "events", cid, False, False, False, None, env["config"], emr=emr, clients=clients(env))
    assert [u.uploaded for u in second.uploads] == [False] * 6
    assert len(puts) == 6  # not one PUT the second time
    assert keys(env["s3"], env["buckets"]["code"]) == before
    assert second.step_id != first.step_id  # a new step each time, same code

    with open(env["config"], "a") as f:
        f.write("# edited\n")
    third = deploy_step(config, "events", cid, False, False, False, None, env["config"], emr=emr, clients=clients(env))
    assert [(u.artifact.role, u.uploaded) for u in third.uploads if u.uploaded] == [("config", True)]
    assert len(puts) == 7


def test_rebuilding_unchanged_code_gives_the_same_keys(snapshot, bundle, tmp_path):
    for path in (snapshot / "lib").rglob("*.py"):  # a fresh checkout: new mtimes, same content
        os.utime(path, (path.stat().st_atime + 3600, path.stat().st_mtime + 3600))
    again = build_code(snapshot, tmp_path / "dist")
    assert [a.sha256 for a in again.artifacts()] == [a.sha256 for a in bundle.artifacts()]
    assert again.wheel.name == bundle.wheel.name and again.code.name == "lakeloader.zip"
    import zipfile

    with zipfile.ZipFile(again.code.path) as zf:
        assert "lakeloader/cli/__init__.py" in zf.namelist() and "lakeloader/emr/deploy.py" in zf.namelist()
        assert not any("__pycache__" in n for n in zf.namelist())


def test_step_timeout_is_one_line_and_the_step_keeps_running(env):
    cid = start_cluster(env["emr"])
    config, emr = load(env)
    with pytest.raises(DeployError) as e:
        deploy_step(config, "events", cid, False, True, False, None, env["config"], emr=emr, clients=clients(env))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("deploy error: step s-") and "still RUNNING after 600 s" in msg
    assert "emr.step_timeout_s" in msg and "aws emr cancel-steps" in msg
    assert sum(env["clock"].sleeps) == pytest.approx(600)
    assert max(env["clock"].sleeps) == 30  # never longer than poll_max_s


# --------------------------------------------------------------------------- EMR refusing


ERROR_LINE = re.compile(r"^(deploy|config|usage) error: ")


def assert_one_line_exit_2(rc: int, err: str, *fragments: str) -> str:
    """Exit 2 and exactly one error line, the last one (log lines may precede it when logging is on)."""
    assert rc == 2
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert [line for line in lines if ERROR_LINE.match(line)] == lines[-1:], err
    for f in fragments:
        assert f in lines[-1], lines[-1]
    return lines[-1]


def test_unknown_cluster_id_is_one_line_and_exit_2(env, capsys):
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", "j-NOTREAL0000")
    line = assert_one_line_exit_2(rc, capsys.readouterr().err, "deploy error: EMR cluster j-NOTREAL0000")
    assert "InvalidRequestException" in line and "is not valid" in line
    assert keys(env["s3"], env["buckets"]["code"]) == []  # refused before uploading anything


def test_terminated_cluster_is_one_line_and_exit_2(env, capsys):
    cid = start_cluster(env["emr"])
    env["emr"].terminate_job_flows(JobFlowIds=[cid])
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", cid)
    assert_one_line_exit_2(rc, capsys.readouterr().err, f"EMR cluster {cid} is TERMINATED", "--create-cluster")
    assert moto_steps(cid) == []


def test_malformed_cluster_id_is_a_usage_error(env, capsys):
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", "my-cluster")
    assert_one_line_exit_2(rc, capsys.readouterr().err, "usage error:", "'my-cluster' is not an EMR cluster id")


def test_emr_validation_exception_on_add_step_is_one_line(env, capsys, monkeypatch):
    cid = start_cluster(env["emr"])

    class Refusing(_EmrSpy):
        def add_job_flow_steps(self, **kwargs: Any) -> dict:
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": "A job flow that is shutting down,\n"
                           "terminated, or finished may not be modified."}},
                "AddJobFlowSteps",
            )  # fmt: skip

    monkeypatch.setattr(
        Clients, "from_config", classmethod(lambda cls, aws: Clients(Refusing(env["emr"], {}), env["s3"]))
    )
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", cid)
    assert_one_line_exit_2(
        rc, capsys.readouterr().err, f"EMR AddJobFlowSteps on {cid}: ValidationException: A job flow that is "
        "shutting down, terminated, or finished may not be modified."
    )  # fmt: skip


def test_config_errors_name_the_emr_key(env, capsys, tmp_path):
    raw = yaml.safe_load(Path(env["config"]).read_text())
    raw["emr"]["relase_label"] = raw["emr"].pop("idle_timeout_s")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    rc = run_cli("deploy-step", "--config", str(bad), "--table", "events", "--create-cluster", "--dry-run")
    assert_one_line_exit_2(rc, capsys.readouterr().err, "emr.relase_label: unknown key (did you mean 'release_label'?)")

    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--create-cluster", "--dry-run",
                 "--set", "emr.release_label=emr-6.15.0")  # fmt: skip
    assert_one_line_exit_2(rc, capsys.readouterr().err, "emr.release_label: 'emr-6.15.0': use an EMR 7.x release")

    del raw["emr"]["relase_label"], raw["emr"]["code_location"]
    bad.write_text(yaml.safe_dump(raw))
    rc = run_cli("deploy-step", "--config", str(bad), "--table", "events", "--cluster-id", "j-1", "--dry-run")
    assert_one_line_exit_2(rc, capsys.readouterr().err, "emr.code_location: required for deploy-step")


def test_cluster_without_lakeloader_bootstrap_warns(env, caplog):
    cid = start_cluster(env["emr"])
    config, emr = load(env)
    deploy_step(config, "events", cid, False, False, False, None, env["config"], emr=emr, clients=clients(env))
    assert any("was not started with install-lakeloader.sh" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- a failed step


def gz(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


SPARK_SUBMIT_STDERR = [
    f"25/01/01 00:00:{i:02d} INFO Client: Application report for application_1700_0007 (state: RUNNING)"
    for i in range(30)
] + [  # fmt: skip
    "25/01/01 00:01:00 INFO Client: Application report for application_1700_0007 (state: FAILED)",
    'Exception in thread "main" org.apache.spark.SparkException: Application application_1700_0007 finished '
    "with failed status",
    "\tat org.apache.spark.deploy.yarn.Client.run(Client.scala:1342)",
    "25/01/01 00:01:01 INFO ShutdownHookManager: Shutdown hook called",
]


def fail_step_with_logs(env: dict, cid: str, driver_lines: list[str] | None) -> None:
    """What EMR does when the job fails: the step goes FAILED and, a little later, its logs land in S3."""
    logs = env["buckets"]["logs"]
    sid = moto_steps(cid)[0].id
    set_state(cid, 0, "FAILED")

    def copy_logs() -> None:
        env["s3"].put_object(Bucket=logs, Key=f"emr/{cid}/steps/{sid}/stderr.gz", Body=gz(SPARK_SUBMIT_STDERR))
        if driver_lines is not None:
            key = f"emr/{cid}/containers/application_1700_0007/container_1700_0007_01_000001/stderr.gz"
            env["s3"].put_object(Bucket=logs, Key=key, Body=gz(driver_lines))

    env["clock"].on_sleep.append(copy_logs)


def start_logged_cluster(env: dict) -> str:
    return env["emr"].run_job_flow(
        Name="existing", ReleaseLabel="emr-7.10.0", LogUri=f"s3n://{env['buckets']['logs']}/emr/",
        Instances={"InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1,
                                       "Market": "ON_DEMAND"}], "KeepJobFlowAliveWhenNoSteps": True},
        ServiceRole="svc", JobFlowRole="prof",
    )["JobFlowId"]  # fmt: skip


def test_failed_step_reports_the_jobs_own_error_and_the_stderr_tail(env, capsys):
    cid = start_logged_cluster(env)  # EMR reports LogUri as s3n://: the logs are read through s3://
    driver = [
        "INFO lakeloader.pipeline: planning events",
        "input error: hdfs:///data/events/2024/05/01/: no input files",
    ]
    env["clock"].on_sleep = [lambda: fail_step_with_logs(env, cid, driver)]
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", cid, "--wait")
    err = capsys.readouterr().err.rstrip().splitlines()
    assert rc == 2
    sid = moto_steps(cid)[0].id
    location = f"s3://{env['buckets']['logs']}/emr/{cid}/steps/{sid}/"
    assert err[-1] == (
        f"deploy error: step {sid} (lakeloader events) FAILED on {cid}: input error: "
        f"hdfs:///data/events/2024/05/01/: no input files; logs: {location}"
    )
    # Above the one line: the last 20 lines of the step's stderr, as fetched from the log bucket.
    assert [line for line in err if line.startswith("  | ")] == [f"  | {line}" for line in SPARK_SUBMIT_STDERR[-20:]]
    assert err[-21].startswith("  | ")  # printed right above the error line


def test_failed_step_without_driver_log_names_the_exception(env):
    cid = start_logged_cluster(env)
    config, emr = load(env)
    env["clock"].on_sleep = [lambda: fail_step_with_logs(env, cid, None)]
    with pytest.raises(DeployError) as e:
        deploy_step(config, "events", cid, False, True, False, None, env["config"], emr=emr, clients=clients(env))
    assert 'Exception in thread "main" org.apache.spark.SparkException: Application application_1700_0007' in str(
        e.value
    )
    assert "\n" not in str(e.value) and e.value.exit_code == 2
    assert e.value.detail == SPARK_SUBMIT_STDERR[-20:]


def test_failed_step_whose_logs_never_arrive(env):
    cid = start_logged_cluster(env)
    config, emr = load(env)
    env["clock"].on_sleep = [lambda: set_state(cid, 0, "FAILED")]
    with pytest.raises(DeployError) as e:
        deploy_step(config, "events", cid, False, True, False, None, env["config"], emr=emr, clients=clients(env))
    assert "no stderr.gz in s3://" in str(e.value) and "after 20 s" in str(e.value)
    assert env["clock"].t == pytest.approx(5 + 20)  # one poll, then log_wait_s for the log


def test_cancelled_step_names_why_the_cluster_stopped(env, capsys):
    cid = start_logged_cluster(env)
    reason = "On the master instance (i-0abc), bootstrap action 1 returned a non-zero return code"

    def bootstrap_failed() -> None:
        from moto.emr.models import emr_backends

        cluster = emr_backends[ACCOUNT][REGION].clusters[cid]
        cluster.state, cluster.last_state_change_reason = "TERMINATED_WITH_ERRORS", reason
        set_state(cid, 0, "CANCELLED")

    env["clock"].on_sleep = [bootstrap_failed]
    rc = run_cli("deploy-step", "--config", env["config"], "--table", "events", "--cluster-id", cid, "--wait")
    sid = moto_steps(cid)[0].id
    assert_one_line_exit_2(
        rc, capsys.readouterr().err, f"step {sid} (lakeloader events) CANCELLED on {cid}: cluster "
        f"TERMINATED_WITH_ERRORS: {reason}; logs: s3://{env['buckets']['logs']}/emr/{cid}/steps/{sid}/"
    )  # fmt: skip


# --------------------------------------------------------------------------- IAM policies


TOKENS = {
    "AccountId", "Region", "LakeBucket", "WarehousePrefix", "AthenaResultsPrefix", "InputBucket", "InputPrefix",
    "CodeBucket", "CodePrefix", "LogBucket", "LogPrefix", "Database", "AthenaWorkgroup", "ServiceRole",
    "InstanceRole", "ProjectTag",
}  # fmt: skip
# Actions that take no resource ARN (AWS's service authorization reference): allowed on "*" only with a condition.
STAR_ONLY = {"elasticmapreduce:RunJobFlow"}


def policies() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "conf" / "iam").glob("*.json"))}


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def render(policy: dict, values: dict[str, str]) -> dict:
    text = json.dumps(policy)
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    return json.loads(text)


def allowed(policy: dict, action: str, arn: str) -> bool:
    """Whether some statement allows `action` on `arn` (conditions ignored)."""
    for s in policy["Statement"]:
        if s["Effect"] == "Allow" and action in as_list(s["Action"]):
            if any(fnmatch.fnmatchcase(arn, r) for r in as_list(s["Resource"])):
                return True
    return False


def test_iam_policies_are_least_privilege():
    found = policies()
    assert set(found) == {"deployer", "emr-instance-profile"}
    for name, policy in found.items():
        assert policy["Version"] == "2012-10-17"
        sids = [s["Sid"] for s in policy["Statement"]]
        assert len(sids) == len(set(sids)), name
        for s in policy["Statement"]:
            assert s["Effect"] == "Allow"
            actions, resources = as_list(s["Action"]), as_list(s["Resource"])
            assert all(a != "*" and not a.endswith(":*") for a in actions), (name, s["Sid"])
            if "*" in resources:
                assert resources == ["*"] and set(actions) <= STAR_ONLY and s.get("Condition"), (name, s["Sid"])
            for r in resources:
                assert set(re.findall(r"\$\{(\w+)\}", r)) <= TOKENS, r
                assert r == "*" or r.startswith("arn:aws:"), r
    deployer, instance = found["deployer"], found["emr-instance-profile"]
    passrole = [s for s in deployer["Statement"] if "iam:PassRole" in as_list(s["Action"])]
    assert sorted(r for s in passrole for r in as_list(s["Resource"])) == [
        "arn:aws:iam::${AccountId}:role/${InstanceRole}",
        "arn:aws:iam::${AccountId}:role/${ServiceRole}",
    ]
    assert all("iam:PassedToService" in s["Condition"]["StringLike"] for s in passrole)
    deploy_actions = {a for s in deployer["Statement"] for a in as_list(s["Action"])}
    assert {"elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep", "elasticmapreduce:DescribeCluster",
            "elasticmapreduce:RunJobFlow", "s3:PutObject", "s3:GetObject"} <= deploy_actions  # fmt: skip
    # The cluster gets no EMR, IAM or deploy rights; and the deployer no Glue, Athena or warehouse rights.
    instance_services = {a.split(":")[0] for s in instance["Statement"] for a in as_list(s["Action"])}
    assert instance_services == {"s3", "glue", "athena"}
    assert {a.split(":")[0] for a in deploy_actions} == {"s3", "elasticmapreduce", "iam"}


def test_iam_policies_cover_the_dev_environment():
    """Rendered with conf/dev.yaml's names, the policies allow what a deploy and a run touch, and no more."""
    config, emr = load_deploy_config(str(ROOT / "conf" / "dev.yaml"))
    lake, warehouse = split_s3(config.warehouse)
    code_bucket, code_prefix = split_s3(emr.code_location)
    log_bucket, log_prefix = split_s3(emr.log_uri.rstrip("/"))
    results_bucket, results_prefix = split_s3(config.query.output_location.rstrip("/"))
    assert results_bucket == lake
    values = {
        "AccountId": ACCOUNT, "Region": config.aws.region, "LakeBucket": lake, "WarehousePrefix": warehouse,
        "AthenaResultsPrefix": results_prefix, "InputBucket": "lakeloader-dev-input", "InputPrefix": "events",
        "CodeBucket": code_bucket, "CodePrefix": code_prefix, "LogBucket": log_bucket, "LogPrefix": log_prefix,
        "Database": config.tables["events"].database, "AthenaWorkgroup": config.query.workgroup,
        "ServiceRole": emr.service_role, "InstanceRole": emr.instance_profile, "ProjectTag": emr.tags["project"],
    }  # fmt: skip
    deployer, instance = (render(policies()[n], values) for n in ("deployer", "emr-instance-profile"))
    glue = f"arn:aws:glue:us-east-1:{ACCOUNT}"
    part = f"arn:aws:s3:::{lake}/{warehouse}/demo/events/dt=2024-05-01/country=US/_v=r1/part-0.parquet"
    assert allowed(instance, "s3:PutObject", part) and allowed(instance, "s3:DeleteObject", part)
    assert not allowed(instance, "s3:PutObject", f"arn:aws:s3:::{lake}/elsewhere/x")
    assert allowed(instance, "s3:GetObject", f"arn:aws:s3:::{code_bucket}/{code_prefix}/0123456789abcdef/ingest.py")
    assert not allowed(instance, "s3:PutObject", f"arn:aws:s3:::{code_bucket}/{code_prefix}/x")
    assert allowed(instance, "s3:PutObject", f"arn:aws:s3:::{log_bucket}/{log_prefix}/j-1/steps/s-1/stderr.gz")
    for action in ("glue:BatchCreatePartition", "glue:UpdateTable", "glue:CreateTable"):
        assert allowed(instance, action, f"{glue}:table/demo/events"), action
        assert not allowed(instance, action, f"{glue}:table/other_db/events"), action
    assert allowed(
        instance, "athena:StartQueryExecution", f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/lakeloader-dev"
    )
    assert not allowed(instance, "athena:StartQueryExecution", f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/primary")

    cluster = f"arn:aws:elasticmapreduce:us-east-1:{ACCOUNT}:cluster/j-1ABC"
    assert allowed(deployer, "elasticmapreduce:AddJobFlowSteps", cluster)
    assert allowed(deployer, "s3:PutObject", f"arn:aws:s3:::{code_bucket}/{code_prefix}/0123456789abcdef/x.whl")
    assert not allowed(deployer, "s3:PutObject", f"arn:aws:s3:::{lake}/{warehouse}/x")
    assert allowed(deployer, "s3:GetObject", f"arn:aws:s3:::{log_bucket}/{log_prefix}/j-1/steps/s-1/stderr.gz")
    assert allowed(deployer, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{emr.service_role}")
    assert not allowed(deployer, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")


# --------------------------------------------------------------------------- bootstrap scripts


def bootstrap_scripts() -> list[Path]:
    found = sorted((ROOT / "bootstrap").glob("*.sh"))
    assert found
    return found


@pytest.mark.parametrize("script", bootstrap_scripts(), ids=lambda p: p.name)
def test_bootstrap_script_passes_bash_n_and_shellcheck(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert script.read_text().startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script.read_text()
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    proc = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def fake_bin(tmp_path: Path, s3_root: Path) -> Path:
    """`aws s3 cp` from a local folder, `sudo` that just runs, and a python whose pip only records its inputs."""
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "aws": f'#!/usr/bin/env bash\nset -eu\nsrc="${{@: -2:1}}"; dst="${{@: -1}}"\n'
        f'cp "{s3_root}/${{src#s3://}}" "$dst"\n',
        "sudo": '#!/usr/bin/env bash\nexec "$@"\n',
        "fakepy": "#!/usr/bin/env bash\n"
        'if [ "${1:-}" = "-m" ] && [ "${2:-}" = "pip" ]; then\n'
        '  echo "pip ${*:3}" >> "$PIP_LOG"\n'
        '  while [ $# -gt 0 ]; do case "$1" in -r|-c) cat "$2" > "$PIP_LOG.${1#-}"; shift 2;; *) shift;; esac; done\n'
        "  exit 0\nfi\n"
        f'exec "{sys.executable}" "$@"\n',
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def bootstrap_on_fake_node(bundle, tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """The bootstrap's command and environment on a fake node (fake_bin); the path of its pip log."""
    s3_root = tmp_path / "s3"
    for a in (bundle.wheel, bundle.constraints):
        target = s3_root / "code" / a.sha256[:16] / a.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.path, target)
    wheel_uri = f"s3://code/{bundle.wheel.sha256[:16]}/{bundle.wheel.name}"
    constraints_uri = f"s3://code/{bundle.constraints.sha256[:16]}/constraints.txt"
    pip_log = tmp_path / "pip.log"
    environ = {
        **os.environ,
        "PATH": f"{fake_bin(tmp_path, s3_root)}:{os.environ['PATH']}",
        "PIP_LOG": str(pip_log),
        "LAKELOADER_BOOTSTRAP_STATE": str(tmp_path / "state"),
    }
    cmd = ["bash", str(ROOT / "bootstrap" / "install-lakeloader.sh"), wheel_uri, constraints_uri, "fakepy"]
    return cmd, environ, pip_log


def test_bootstrap_installs_the_wheels_requirements_once(bundle, tmp_path):
    cmd, environ, pip_log = bootstrap_on_fake_node(bundle, tmp_path)

    first = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    assert first.returncode == 0, first.stderr
    calls = pip_log.read_text().splitlines()
    assert len(calls) == 3 and calls[0] == "pip --version"
    assert calls[1].startswith("pip install --quiet --no-input -c ") and " -r " in calls[1]
    assert calls[2].startswith("pip install --quiet --no-input --no-deps --force-reinstall ")
    assert calls[2].endswith(bundle.wheel.name)
    requirements = Path(f"{pip_log}.r").read_text().splitlines()
    names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}
    assert {"boto3", "pyyaml", "pyarrow", "duckdb", "sqlglot"} <= names
    assert not names & {"pyspark", "py4j", "delta-spark", "pytest", "moto"}  # EMR's own; test extras
    constraints = Path(f"{pip_log}.c").read_text()
    assert "boto3==" in constraints and not re.search(r"^(pyspark|py4j|delta-spark)==", constraints, re.M | re.I)

    again = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    assert again.returncode == 0 and "already installed" in again.stdout
    assert pip_log.read_text().splitlines() == calls  # nothing installed the second time


# EMR 7 runs Amazon Linux 2023 (glibc 2.34): every manylinux wheel up to that glibc installs there.
EMR_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(34, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


@pytest.mark.slow
def test_bootstrap_requirements_resolve_on_emr_for_the_default_python(bundle, tmp_path):
    """What the bootstrap hands pip resolves to the pins for emr.python's default on an EMR 7 node."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/")
    try:
        urllib.request.urlopen(f"{index}/pip/", timeout=15).close()
    except OSError as e:
        pytest.skip(f"the package index {index} is unreachable ({e}), so nothing can be resolved for EMR")
    cmd, environ, pip_log = bootstrap_on_fake_node(bundle, tmp_path)
    assert subprocess.run(cmd, capture_output=True, text=True, env=environ).returncode == 0
    version = EmrConfig().python.removeprefix("python")  # what a cluster gets when emr.python is not set
    report = tmp_path / "report.json"
    platforms = [arg for p in EMR_PLATFORMS for arg in ("--platform", p)]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--target", str(tmp_path / "t"), "--quiet",
         "--only-binary=:all:", "--implementation", "cp", "--python-version", version, *platforms,
         "-c", f"{pip_log}.c", "-r", f"{pip_log}.r", "--report", str(report)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    installs = json.loads(report.read_text())["install"]
    resolved = {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    pinned = [line.split("==") for line in Path(f"{pip_log}.c").read_text().split() if "==" in line]
    pins = {norm(n): v for n, v in pinned}
    assert {"pyarrow", "duckdb", "deltalake", "boto3", "sqlglot"} <= resolved.keys()
    assert {n: v for n, v in resolved.items() if n in pins} == {n: pins[n] for n in resolved if n in pins}


def test_bootstrap_without_arguments_says_how_to_call_it():
    proc = subprocess.run(["bash", str(ROOT / "bootstrap" / "install-lakeloader.sh")], capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: install-lakeloader.sh" in proc.stderr


# --------------------------------------------------------------------------- the AWS environments


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_aws_environments_load_and_carry_the_local_table(env_name):
    config, emr = load_deploy_config(str(ROOT / "conf" / f"{env_name}.yaml"))
    check_emr(emr, config.source_file, create_cluster=True)
    assert config.warehouse.startswith("s3://") and config.catalog.kind == "glue"
    assert config.query.engine == "athena" and config.query.output_location.startswith("s3://")
    assert emr.tags["project"] == "lakeloader"
    local = yaml.safe_load((ROOT / "conf" / "local.yaml").read_text())["tables"]["events"]
    aws = yaml.safe_load((ROOT / "conf" / f"{env_name}.yaml").read_text())["tables"]["events"]
    assert aws["source"].pop("path").startswith("hdfs://")
    local["source"].pop("path")
    assert aws == local


def test_every_emr_key_is_documented():
    readme = (ROOT / "conf" / "README.md").read_text()
    section = readme.split("## `emr` (deploy-step)", 1)[1]
    for group in (EmrConfig, InstanceGroupConfig, InstanceFleetConfig):
        for f in dataclasses.fields(group):
            assert re.search(rf"[`{{ ]{f.name}\b", section), f"{group.__name__}.{f.name} is not in conf/README.md"
