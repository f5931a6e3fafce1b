"""`lakeloader schedule` against a moto server (IAM, SNS, Step Functions, EventBridge Scheduler, S3): what is
created matches the config, a second run changes nothing, a removed table loses its resources (and only
lakeloader's own), a dry run calls nothing; the ASL check; the run date a scheduled job gets."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from conftest import events_table
from lakeloader import aws, emr
from lakeloader.cli import main
from lakeloader.config import load_config
from lakeloader.errors import ConfigError, DeployError, UsageError
from lakeloader.schedule import apply
from lakeloader.schedule.stepfunctions import check_definition, dynamic_args, intrinsic_literal
from lakeloader.schedule.timing import shift_run_date

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"


# --------------------------------------------------------------------------- fixtures


def schedule_config(tmp_path: Path, endpoint: str, prefix: str, tables: dict[str, Any], **schedule: Any) -> str:
    source = {"path": "hdfs:///data/{run_date:%Y/%m/%d}/", "format": "csv"}
    body = {
        "warehouse": "s3://lake/warehouse",
        "catalog": {"kind": "glue"},
        "query": {"engine": "athena", "workgroup": "lakeloader", "output_location": "s3://lake/athena/"},
        "aws": {"region": REGION, "endpoint_url": endpoint},
        "emr": {"code_location": f"s3://code-{prefix}/lakeloader", "log_uri": f"s3://logs-{prefix}/emr/",
                "service_role": "emr-service", "instance_profile": "emr-instance"},
        "schedule": {"prefix": prefix, "sns_topic": f"{prefix}-alerts", "tables": tables, **schedule},
        "tables": {"events": events_table(source=source), "users": events_table(source=source)},
    }  # fmt: skip
    path = tmp_path / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return str(path)


@pytest.fixture
def env(moto_endpoint, tmp_path, code_bundle, monkeypatch):
    """A fresh prefix and code bucket on the moto server; every AWS call lakeloader makes is counted."""
    monkeypatch.setattr(emr, "build_code", lambda root, dist=None: code_bundle)
    prefix = f"ll{uuid.uuid4().hex[:6]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION).create_bucket(Bucket=f"code-{prefix}")
    calls: list[str] = []
    real = aws.client

    def counting(service: str, cfg: Any, *a: Any, **kw: Any) -> Any:  # noqa: ANN401
        c = real(service, cfg, *a, **kw)
        c.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
        return c

    monkeypatch.setattr(aws, "client", counting)
    tables = {"events": {"cron": "cron(0 3 * * ? *)", "days_before": 1},
              "users": {"cron": "cron(30 4 ? * MON-FRI *)", "timezone": "Europe/Paris"}}  # fmt: skip
    return {
        "prefix": prefix,
        "endpoint": moto_endpoint,
        "calls": calls,
        "tables": tables,
        "config": schedule_config(tmp_path, moto_endpoint, prefix, tables),
        "tmp": tmp_path,
        "sfn": boto3.client("stepfunctions", endpoint_url=moto_endpoint, region_name=REGION),
        "scheduler": boto3.client("scheduler", endpoint_url=moto_endpoint, region_name=REGION),
        "iam": boto3.client("iam", endpoint_url=moto_endpoint, region_name=REGION),
        "sns": boto3.client("sns", endpoint_url=moto_endpoint, region_name=REGION),
    }


def changes(out: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> action from the command's output."""
    result = {}
    for line in out.splitlines():
        parts = line.split("  ")
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) == 3:
            result[(parts[0], parts[2])] = parts[1]
    return result


def machine(env: dict, table: str) -> dict:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{env['prefix']}-{table}"
    return env["sfn"].describe_state_machine(stateMachineArn=arn)


# --------------------------------------------------------------------------- on moto


@pytest.mark.aws
def test_schedule_creates_what_the_config_says_and_a_second_run_changes_nothing(env, capsys):
    p = env["prefix"]
    assert main(["schedule", "--config", env["config"]]) == 0
    first = changes(capsys.readouterr().out)
    assert first == {
        ("iam role", f"{p}-states"): "created", ("iam role", f"{p}-scheduler"): "created",
        ("sns topic", f"{p}-alerts"): "created", ("state machine", f"{p}-events"): "created",
        ("state machine", f"{p}-users"): "created", ("schedule group", p): "created",
        ("schedule", f"{p}-events"): "created", ("schedule", f"{p}-users"): "created",
    }  # fmt: skip

    # The schedules: cron, time zone, the state machine as target, the scheduled time as input.
    s = env["scheduler"].get_schedule(Name=f"{p}-users", GroupName=p)
    assert (s["ScheduleExpression"], s["ScheduleExpressionTimezone"]) == ("cron(30 4 ? * MON-FRI *)", "Europe/Paris")
    assert s["Target"]["Arn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{p}-users"
    assert s["Target"]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{p}-scheduler"
    assert json.loads(s["Target"]["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert env["scheduler"].get_schedule(Name=f"{p}-events", GroupName=p)["ScheduleExpressionTimezone"] == "UTC"

    # The state machine: a transient cluster from the emr: section, the load with the run date, validation,
    # terminate, and a failure that notifies the topic and fails the execution.
    m = machine(env, "events")
    assert m["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{p}-states"
    d = json.loads(m["definition"])
    assert check_definition(d) == []
    states = d["States"]
    assert states["Create cluster"]["Resource"].endswith("elasticmapreduce:createCluster.sync")
    assert states["Create cluster"]["Parameters"]["ServiceRole"] == "emr-service"
    load_args = states["Load"]["Parameters"]["Step"]["HadoopJarStep"]["Args.$"]
    assert load_args.startswith("States.Array('spark-submit', '--deploy-mode', 'cluster'")
    assert load_args.endswith("'--table', 'events', '--run-date', $.run_date, '--days-before', '1')")
    validate_args = states["Validate"]["Parameters"]["Step"]["HadoopJarStep"]["Args.$"]
    assert "/validate.py', '--config', '" in validate_args and validate_args.endswith("'--table', 'events')")
    assert states["Load"]["Catch"][0]["Next"] == states["Validate"]["Catch"][0]["Next"] == "Terminate after failure"
    assert states["Terminate after failure"]["Next"] == "Notify" and states["Notify"]["Next"] == "Failed"
    assert states["Notify"]["Parameters"]["TopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{p}-alerts"
    assert states["Validate"]["Next"] == "Terminate cluster" and states["Terminate cluster"]["Next"] == "Succeeded"
    tags = env["sfn"].list_tags_for_resource(resourceArn=m["stateMachineArn"])["tags"]
    assert {"key": "lakeloader:managed", "value": p} in tags

    # The roles: who may assume them and what they may do.
    trust = env["iam"].get_role(RoleName=f"{p}-scheduler")["Role"]["AssumeRolePolicyDocument"]
    assert "scheduler.amazonaws.com" in json.dumps(trust)
    policy = env["iam"].get_role_policy(RoleName=f"{p}-scheduler", PolicyName="lakeloader")["PolicyDocument"]
    assert "states:StartExecution" in json.dumps(policy) and f"stateMachine:{p}-*" in json.dumps(policy)

    # Second run, same config: everything unchanged, and not one create/update/put/delete call.
    env["calls"].clear()
    assert main(["schedule", "--config", env["config"]]) == 0
    second = changes(capsys.readouterr().out)
    assert set(second.values()) == {"unchanged"} and second.keys() == first.keys()
    writes = [c for c in env["calls"] if c.startswith(("Create", "Update", "Put", "Delete", "Tag"))]
    assert writes == []


@pytest.mark.aws
def test_changed_cron_updates_only_that_schedule_and_removed_table_loses_only_its_own(env, capsys):
    p, tmp = env["prefix"], env["tmp"]
    assert main(["schedule", "--config", env["config"]]) == 0
    capsys.readouterr()
    # Foreign resources that look like ours: a state machine with the prefix but not our tag, a schedule elsewhere.
    role = f"arn:aws:iam::{ACCOUNT}:role/{p}-states"
    definition = json.dumps({"StartAt": "x", "States": {"x": {"Type": "Succeed"}}})
    env["sfn"].create_state_machine(name=f"{p}-foreign", definition=definition, roleArn=role)
    env["scheduler"].create_schedule(
        Name=f"{p}-users",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{p}-foreign", "RoleArn": role},
    )  # fmt: skip  (same name, default group)

    tables = copy.deepcopy(env["tables"])
    del tables["users"]
    tables["events"]["cron"] = "cron(0 5 * * ? *)"
    cfg = schedule_config(tmp, env["endpoint"], p, tables)
    assert main(["schedule", "--config", cfg]) == 0
    got = changes(capsys.readouterr().out)
    assert got[("schedule", f"{p}-events")] == "updated"
    # The job reads the config it ships with: a new config file is a new key, so the state machine follows.
    assert got[("state machine", f"{p}-events")] == "updated"
    config_key = emr.Artifact.of("config", Path(cfg)).uri(f"s3://code-{p}/lakeloader")
    assert f"'--files', '{config_key}'" in machine(env, "events")["definition"]
    assert got[("schedule", f"{p}-users")] == "deleted" and got[("state machine", f"{p}-users")] == "deleted"
    assert env["scheduler"].get_schedule(Name=f"{p}-events", GroupName=p)["ScheduleExpression"] == "cron(0 5 * * ? *)"
    assert [s["Name"] for s in env["scheduler"].list_schedules(GroupName=p)["Schedules"]] == [f"{p}-events"]
    # Not ours, so still there.
    names = [m["name"] for m in env["sfn"].list_state_machines()["stateMachines"]]
    assert f"{p}-foreign" in names and f"{p}-users" not in names
    assert env["scheduler"].get_schedule(Name=f"{p}-users")["ScheduleExpression"] == "rate(1 day)"

    # A changed job setting reaches the state machine's steps: updated in place.
    cfg2 = schedule_config(tmp, env["endpoint"], p, tables)
    assert main(["schedule", "--config", cfg2, "--set", "emr.spark_conf={spark.driver.memory: 4g}"]) == 0
    got = changes(capsys.readouterr().out)
    assert got[("state machine", f"{p}-events")] == "updated"
    assert "spark.driver.memory=4g" in machine(env, "events")["definition"]


@pytest.mark.aws
def test_existing_cluster_and_no_topic_and_given_roles(env, capsys):
    p = env["prefix"]
    cfg = schedule_config(
        env["tmp"], env["endpoint"], p, {"events": {"cron": "rate(1 day)"}}, cluster="existing",
        cluster_id="j-ABCDEF0123456", sns_topic=None, states_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ops-states",
        scheduler_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ops-scheduler",
    )  # fmt: skip
    assert main(["schedule", "--config", cfg]) == 0
    got = changes(capsys.readouterr().out)
    assert not [k for k in got if k[0] in ("iam role", "sns topic")]  # nothing created that the config names
    d = json.loads(machine(env, "events")["definition"])
    assert d["States"]["Cluster"]["Result"] == {"ClusterId": "j-ABCDEF0123456"}
    assert "Create cluster" not in d["States"] and "Terminate cluster" not in d["States"]
    assert d["States"]["Load"]["Catch"][0]["Next"] == "Failed" and check_definition(d) == []


@pytest.mark.aws
def test_tables_option_touches_only_those_and_deletes_nothing(env, capsys):
    p = env["prefix"]
    assert main(["schedule", "--config", env["config"], "--tables", "events"]) == 0
    got = changes(capsys.readouterr().out)
    assert ("schedule", f"{p}-events") in got and ("schedule", f"{p}-users") not in got
    assert main(["schedule", "--config", env["config"], "--tables", "nope"]) == 2
    assert "no table 'nope'" in capsys.readouterr().err


def test_dry_run_prints_everything_and_calls_no_aws_api(tmp_path, code_bundle, monkeypatch, capsys):
    monkeypatch.setattr(emr, "build_code", lambda root, dist=None: code_bundle)

    def no_aws(*a: Any, **kw: Any) -> None:
        raise AssertionError("a dry run made an AWS client")

    monkeypatch.setattr(aws, "client", no_aws)
    cfg = schedule_config(tmp_path, "http://127.0.0.1:9", "lakeloader-prod", {"events": {"cron": "cron(0 3 * * ? *)"}})
    assert main(["schedule", "--config", cfg, "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["RoleName"] for r in out["iam_roles"]] == ["lakeloader-prod-states", "lakeloader-prod-scheduler"]
    assert out["schedules"]["lakeloader-prod-events"]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert out["schedules"]["lakeloader-prod-events"]["GroupName"] == "lakeloader-prod"
    d = out["state_machines"]["lakeloader-prod-events"]["definition"]
    assert check_definition(d) == [] and d["StartAt"] == "Run date"
    assert {u["role"] for u in out["uploads"]} >= {"wheel", "py-files", "job", "config", "bootstrap"}
    assert sum(u["uri"].endswith("/validate.py") for u in out["uploads"]) == 1


@pytest.mark.aws
def test_aws_refusal_is_one_line_and_exit_2(env, capsys):
    cfg = schedule_config(env["tmp"], env["endpoint"], "nobucket", {"events": {"cron": "rate(1 day)"}})
    assert main(["schedule", "--config", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the lines above it are the moto server's log
    assert err.startswith("deploy error: upload s3://code-nobucket/lakeloader/")
    assert "NoSuchBucket" in err


# --------------------------------------------------------------------------- no server


def test_remote_validation_refusal_names_the_problem():
    class Sfn:
        def validate_state_machine_definition(self, **kw: Any) -> dict:
            assert json.loads(kw["definition"]) == {"StartAt": "a"}
            return {
                "result": "FAIL",
                "diagnostics": [
                    {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": "no States", "location": "/"}
                ],
            }

    with pytest.raises(DeployError, match="refused the state machine of events: SCHEMA_VALIDATION_FAILED: no States"):
        apply._validate_remote(Sfn(), {"StartAt": "a"}, "events")


def test_config_errors_name_the_key(tmp_path):
    def load(tables: dict, **schedule: Any) -> None:
        load_config(schedule_config(tmp_path, "http://x", "p", tables, **schedule))

    with pytest.raises(ConfigError, match=r"schedule.tables.events.cron: 'cron\(0 3 \* \* \*\)': use an EventBridge"):
        load({"events": {"cron": "cron(0 3 * * *)"}})
    with pytest.raises(ConfigError, match="day-of-month or day-of-week must be '\\?'"):
        load({"events": {"cron": "cron(0 3 * * * *)"}})
    with pytest.raises(ConfigError, match="schedule.tables.evnts: no table 'evnts' under 'tables' \\(did you mean"):
        load({"evnts": {"cron": "rate(1 day)"}})
    with pytest.raises(ConfigError, match="schedule.cluster_id: cluster: existing needs"):
        load({}, cluster="existing")
    with pytest.raises(ConfigError, match="schedule.tables.events.timezone: 'Mars/Base' is not an IANA"):
        load({"events": {"cron": "rate(1 day)", "timezone": "Mars/Base"}})
    with pytest.raises(ConfigError, match="schedule.sns_topic: .* not an ARN"):
        load({}, sns_topic="arn:aws:sns:us-east-1:1:x")


def test_check_definition_finds_what_step_functions_would_refuse():
    ok = {"StartAt": "a", "States": {"a": {"Type": "Pass", "Next": "b"}, "b": {"Type": "Succeed"}}}
    assert check_definition(ok) == []
    bad = {
        "StartAt": "a",
        "States": {
            "a": {"Type": "Task", "Resource": "emr", "Next": "nowhere", "Catch": [
                {"ErrorEquals": ["States.ALL"], "Next": "b"}, {"ErrorEquals": ["X"], "Next": "b"}]},
            "b": {"Type": "Pass", "Parameters": {"x.$": "run_date"}},
            "c": {"Type": "Succeed"},
            "d": {"Type": "Wrong"},
        },
    }  # fmt: skip
    problems = "\n".join(check_definition(bad))
    assert "States.a.Resource: 'emr' is not a service integration" in problems
    assert "States.a: transition to 'nowhere'" in problems
    assert "States.a.Catch[0]: States.ALL must be alone and in the last catcher" in problems
    assert "States.b: needs exactly one of Next and End" in problems
    assert "States.b.Parameters.x.$: 'run_date' is neither a path" in problems
    assert "States.c: not reachable from StartAt" in problems
    assert "States.d.Type: 'Wrong' is not a state type" in problems


def test_intrinsic_arguments_are_escaped():
    assert intrinsic_literal("it's {x}\\") == "'it\\'s \\{x\\}\\\\'"
    assert dynamic_args(["a", "b c"], "$.d") == "States.Array('a', 'b c', $.d)"


def test_scheduled_run_date_minus_days_before():
    assert shift_run_date(["--table", "t", "--run-date", "2024-03-01", "--days-before", "1"]) == [
        "--table", "t", "--run-date", "2024-02-29",
    ]  # fmt: skip
    assert shift_run_date(["--run-date", "2024-03-01"]) == ["--run-date", "2024-03-01"]
    with pytest.raises(UsageError, match="--days-before 'x'"):
        shift_run_date(["--run-date", "2024-03-01", "--days-before", "x"])
    with pytest.raises(UsageError, match="needs a number of days and --run-date"):
        shift_run_date(["--days-before", "1"])


def test_validation_job_starts_a_spark_context_on_a_cluster(monkeypatch, capsys, tmp_path):
    from jobs import validate as job

    from lakeloader import session

    started = []
    monkeypatch.setattr(session, "build_session", lambda name, *a, **kw: started.append(name))
    monkeypatch.setattr(session, "is_on_cluster", lambda: False)
    assert job.main(["--config", str(tmp_path / "missing.yaml"), "--table", "t"]) == 2
    assert started == [] and "missing.yaml: file not found" in capsys.readouterr().err
    monkeypatch.setattr(session, "is_on_cluster", lambda: True)
    assert job.main(["--config", str(tmp_path / "missing.yaml"), "--table", "t"]) == 2
    assert started == ["lakeloader-validate"]


def test_a_new_role_is_retried_for_a_minute_with_backoff_and_other_refusals_are_not():
    now, sleeps = [0.0], []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    def not_yet(times: int, message: str = "InvalidArn: role not assumable yet") -> Any:
        calls = []

        def fn() -> str:
            calls.append(1)
            if len(calls) <= times:
                raise DeployError(message)
            return "created"

        return fn

    assert apply._retry_new_role(not_yet(3), True, sleep, lambda: now[0]) == "created"
    assert sleeps == [2.0, 4.0, 8.0]
    sleeps.clear()
    with pytest.raises(DeployError, match="InvalidArn"):
        apply._retry_new_role(not_yet(100), True, sleep, lambda: now[0])
    assert sum(sleeps) == pytest.approx(60.0) and max(sleeps) == 15.0  # a minute, the last pause cut to it
    sleeps.clear()
    with pytest.raises(DeployError, match="Throttled"):
        apply._retry_new_role(not_yet(1, "Throttled"), True, sleep, lambda: now[0])
    with pytest.raises(DeployError, match="InvalidArn"):
        apply._retry_new_role(not_yet(1), False, sleep, lambda: now[0])  # a role that existed: no waiting
    assert sleeps == []
