"""What `lakeloader schedule` creates on AWS, built from the config (pure), and how it is applied (idempotent).

Per scheduled table: a Step Functions state machine `<prefix>-<table>` and an EventBridge Scheduler schedule
`<prefix>-<table>` in the schedule group `<prefix>`; shared: the IAM roles `<prefix>-states` (the executions)
and `<prefix>-scheduler` (starting them), unless the config names existing roles, and the SNS topic.
Ownership: lakeloader deletes only what it marks as its own, state machines tagged `lakeloader:managed=<prefix>`
and schedules in its own group, so foreign resources with similar names are never touched.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from lakeloader.config import Config
from lakeloader.emr.calls import aws_call  # one wrapper turns every AWS refusal into a one-line error
from lakeloader.errors import ConfigError, DeployError
from lakeloader.schedule.stepfunctions import build_definition, check_definition

log = logging.getLogger(__name__)

MANAGED_TAG = "lakeloader:managed"
ACCOUNT_PLACEHOLDER = "<account>"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # filled in by EventBridge Scheduler at each run
# The managed EventBridge rules Step Functions' EMR .sync integrations create in the account.
_SYNC_RULES = ("RunJobFlowRule", "TerminateJobFlowsRule", "AddJobFlowStepsRule")


@dataclass(frozen=True)
class Role:
    """An IAM role lakeloader creates: its trust principal and one inline policy."""

    name: str
    service: str
    policy: dict[str, Any]

    def arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:role/{self.name}"

    def trust(self) -> dict[str, Any]:
        """The assume-role policy for the service principal."""
        statement = {"Effect": "Allow", "Principal": {"Service": self.service}, "Action": "sts:AssumeRole"}
        return {"Version": "2012-10-17", "Statement": [statement]}


@dataclass
class Plan:
    """Everything `schedule` would create or update; names are the keys."""

    prefix: str
    roles: list[Role]
    topic: Optional[str]
    state_machines: dict[str, dict[str, Any]]  # name -> {"roleArn", "definition"}
    schedules: dict[str, dict[str, Any]]  # name -> CreateSchedule request (without ClientToken)
    arns: dict[str, str]  # state machine name -> ARN
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What --dry-run prints."""
        return {
            "iam_roles": [{"RoleName": r.name, "AssumeRolePolicyDocument": r.trust(), "Policy": r.policy}
                          for r in self.roles],
            "sns_topic": self.topic,
            "state_machines": self.state_machines,
            "schedule_group": self.prefix,
            "schedules": self.schedules,
            "deletes": f"schedules in group {self.prefix!r} and state machines tagged {MANAGED_TAG}={self.prefix} "
            "of tables no longer scheduled (known only when AWS is asked)",
        }  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One resource and what `schedule` did to it: created | updated | unchanged | deleted."""

    kind: str
    name: str
    action: str


def state_machine_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def build_plan(
    config: Config,
    tables: Sequence[str],
    steps: dict[str, tuple[dict[str, Any], dict[str, Any]]],
    run_job_flow: Optional[dict[str, Any]],
    account: str = ACCOUNT_PLACEHOLDER,
) -> Plan:
    """The resources for `tables` (each with its (load, validate) step requests), for `account`.

    Every definition is checked (stepfunctions.check_definition) before anything is sent.
    """
    s, region = config.schedule, config.aws.region
    topic_arn = f"arn:aws:sns:{region}:{account}:{s.sns_topic}" if s.sns_topic else None
    roles = []
    states_role = s.states_role_arn
    if states_role is None:
        role = Role(f"{s.prefix}-states", "states.amazonaws.com", _states_policy(config, account, topic_arn))
        roles.append(role)
        states_role = role.arn(account)
    scheduler_role = s.scheduler_role_arn
    if scheduler_role is None:
        pattern = state_machine_arn(region, account, f"{s.prefix}-*")
        statement = {"Effect": "Allow", "Action": "states:StartExecution", "Resource": pattern}
        role = Role(f"{s.prefix}-scheduler", "scheduler.amazonaws.com",
                    {"Version": "2012-10-17", "Statement": [statement]})  # fmt: skip
        roles.append(role)
        scheduler_role = role.arn(account)
    machines, schedules, arns = {}, {}, {}
    for name in tables:
        t = s.tables[name]
        load, validate = steps[name]
        definition = build_definition(name, load, validate, t.days_before, run_job_flow, s.cluster_id, topic_arn)
        problems = check_definition(definition)
        if problems:  # a bug here, not the user's: say exactly what
            raise DeployError(f"the state machine of {name} is not valid ASL: {'; '.join(problems)}")
        resource = f"{s.prefix}-{name}"
        machines[resource] = {"roleArn": states_role, "definition": definition}
        arns[resource] = state_machine_arn(region, account, resource)
        schedules[resource] = {
            "Name": resource,
            "GroupName": s.prefix,
            "ScheduleExpression": t.cron,
            "ScheduleExpressionTimezone": t.timezone or s.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if t.enabled else "DISABLED",
            "Description": f"lakeloader: load {name} ({config.table(name).database}.{name})",
            "Target": {
                "Arn": arns[resource],
                "RoleArn": scheduler_role,
                "Input": json.dumps({"scheduled_time": SCHEDULED_TIME}),
                # A failed start is retried by the scheduler; a failed load is the state machine's to report.
                "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3},
            },
        }
    return Plan(s.prefix, roles, s.sns_topic, machines, schedules, arns, {MANAGED_TAG: s.prefix})


def _states_policy(config: Config, account: str, topic_arn: Optional[str]) -> dict[str, Any]:
    """What the executions need: EMR clusters and steps, the .sync integrations' rules, passing EMR's roles, SNS."""
    region, emr = config.aws.region, config.emr
    statements: list[dict[str, Any]] = [
        {"Sid": "EmrClustersAndSteps", "Effect": "Allow", "Resource": "*", "Action": [
            "elasticmapreduce:RunJobFlow", "elasticmapreduce:DescribeCluster", "elasticmapreduce:TerminateJobFlows",
            "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep", "elasticmapreduce:CancelSteps",
            "elasticmapreduce:AddTags"]},
        {"Sid": "EmrSyncRules", "Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule",
                                                              "events:DescribeRule"],
         "Resource": [f"arn:aws:events:{region}:{account}:rule/StepFunctionsGetEventForEMR{r}" for r in _SYNC_RULES]},
    ]  # fmt: skip
    if config.schedule.cluster == "transient":
        # The instance profile's role is assumed to carry the profile's name (as EMR_EC2_DefaultRole does).
        roles = [f"arn:aws:iam::{account}:role/{n}" for n in (emr.service_role, emr.instance_profile)]
        statements.append({"Sid": "PassEmrRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": roles})
    if topic_arn:
        statements.append({"Sid": "Notify", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn})
    return {"Version": "2012-10-17", "Statement": statements}


# --------------------------------------------------------------------------- applying


@dataclass(frozen=True)
class Clients:
    """The boto3 clients `schedule` uses (tests pass counting ones)."""

    iam: Any
    sns: Any
    sfn: Any
    scheduler: Any
    sts: Any

    @classmethod
    def from_config(cls, config: Config) -> Clients:
        from lakeloader.aws import client

        return cls(*(client(name, config.aws) for name in ("iam", "sns", "stepfunctions", "scheduler", "sts")))


def account_id(clients: Clients) -> str:
    """The account the credentials belong to (resource ARNs need it)."""
    return str(aws_call(clients.sts.get_caller_identity, "STS GetCallerIdentity")["Account"])


def apply_plan(
    clients: Clients,
    plan: Plan,
    prune: bool,
    validate_remote: bool,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Change]:
    """Create what is missing, update what differs, and (with `prune`) delete this prefix's unscheduled tables.

    `validate_remote`: also ask Step Functions' ValidateStateMachineDefinition (AWS has it; moto does not).
    """
    changes = [_ensure_role(clients.iam, r, plan.tags) for r in plan.roles]
    if plan.topic:
        changes.append(_ensure_topic(clients.sns, plan.topic, plan.tags))
    fresh_role = any(c.action == "created" for c in changes if c.kind == "iam role")
    for name, want in plan.state_machines.items():
        if validate_remote:
            _validate_remote(clients.sfn, want["definition"], name)
        arn = plan.arns[name]
        changes.append(_ensure_state_machine(clients.sfn, name, arn, want, plan.tags, fresh_role, sleep, clock))
    changes.append(_ensure_group(clients.scheduler, plan.prefix, plan.tags))
    changes += [_ensure_schedule(clients.scheduler, want) for want in plan.schedules.values()]
    if prune:
        changes += _prune(clients, plan)
    return changes


def _missing(fn: Callable[..., Any], what: str, codes: Sequence[str], **kwargs: Any) -> Optional[Any]:
    """The call's answer, or None when AWS says the resource does not exist (one of `codes`)."""
    from botocore.exceptions import ClientError

    from lakeloader.aws import error_code

    def call(**kw: Any) -> Any:  # noqa: ANN401
        try:
            return fn(**kw)
        except ClientError as e:
            if error_code(e) in codes:
                return None
            raise

    return aws_call(call, what, **kwargs)


def _pages(client: Any, operation: str, what: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paginated listing; a refusal is a one-line DeployError like any other call."""

    def collect(**kw: Any) -> list[dict[str, Any]]:
        return [item for page in client.get_paginator(operation).paginate(**kw) for item in page.get(key, [])]

    return aws_call(collect, what, **kwargs)


def _ensure_role(iam: Any, role: Role, tags: dict[str, str]) -> Change:
    got = _missing(iam.get_role, f"IAM GetRole {role.name}", ["NoSuchEntity"], RoleName=role.name)
    action = "unchanged"
    if got is None:
        aws_call(iam.create_role, f"IAM CreateRole {role.name}", RoleName=role.name,
              AssumeRolePolicyDocument=json.dumps(role.trust()), Tags=_tag_list(tags),
              Description="lakeloader schedule (generated; do not edit)")  # fmt: skip
        action = "created"
    policy = _missing(iam.get_role_policy, f"IAM GetRolePolicy {role.name}", ["NoSuchEntity"], RoleName=role.name,
                      PolicyName="lakeloader")  # fmt: skip
    current = policy and policy["PolicyDocument"]
    if isinstance(current, str):  # IAM returns the document URL-encoded; boto3 decodes it to a dict, moto may not
        from urllib.parse import unquote

        current = json.loads(unquote(current))
    if current != role.policy:
        aws_call(iam.put_role_policy, f"IAM PutRolePolicy {role.name}", RoleName=role.name, PolicyName="lakeloader",
              PolicyDocument=json.dumps(role.policy))  # fmt: skip
        action = "updated" if action == "unchanged" else action
    return Change("iam role", role.name, action)


def _ensure_topic(sns: Any, name: str, tags: dict[str, str]) -> Change:
    existing = {t["TopicArn"].rsplit(":", 1)[1] for t in _pages(sns, "list_topics", "SNS ListTopics", "Topics")}
    if name in existing:
        return Change("sns topic", name, "unchanged")
    aws_call(sns.create_topic, f"SNS CreateTopic {name}", Name=name, Tags=_tag_list(tags))
    return Change("sns topic", name, "created")


def _ensure_state_machine(
    sfn: Any,
    name: str,
    arn: str,
    want: dict[str, Any],
    tags: dict[str, str],
    fresh_role: bool,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Change:
    definition = json.dumps(want["definition"], indent=2, sort_keys=True)
    current = _missing(sfn.describe_state_machine, f"Step Functions DescribeStateMachine {name}",
                       ["StateMachineDoesNotExist"], stateMachineArn=arn)  # fmt: skip
    if current is None:
        _retry_new_role(
            lambda: aws_call(sfn.create_state_machine, f"Step Functions CreateStateMachine {name}", name=name,
                          definition=definition, roleArn=want["roleArn"], type="STANDARD", tags=_tag_list(tags, "key",
                                                                                                          "value")),
            fresh_role, sleep, clock,
        )  # fmt: skip
        return Change("state machine", name, "created")
    if json.loads(current["definition"]) == want["definition"] and current["roleArn"] == want["roleArn"]:
        return Change("state machine", name, "unchanged")
    _retry_new_role(
        lambda: aws_call(sfn.update_state_machine, f"Step Functions UpdateStateMachine {name}", stateMachineArn=arn,
                      definition=definition, roleArn=want["roleArn"]),
        fresh_role, sleep, clock,
    )  # fmt: skip
    return Change("state machine", name, "updated")


def _validate_remote(sfn: Any, definition: dict[str, Any], name: str) -> None:
    """Step Functions' own ValidateStateMachineDefinition: what the local structural check cannot know."""
    answer = aws_call(sfn.validate_state_machine_definition, f"Step Functions ValidateStateMachineDefinition {name}",
                   definition=json.dumps(definition), type="STANDARD")  # fmt: skip
    problems = [f"{d.get('code')}: {d.get('message')} at {d.get('location')}" for d in answer.get("diagnostics", [])
                if d.get("severity") == "ERROR"]  # fmt: skip
    if answer.get("result") == "FAIL" or problems:
        raise DeployError(f"Step Functions refused the state machine of {name}: {'; '.join(problems)}")


def _retry_new_role(fn: Callable[[], Any], fresh_role: bool, sleep: Callable[[float], None],
                    clock: Callable[[], float]) -> Any:  # fmt: skip
    """A role created seconds ago may not be assumable yet (IAM is eventually consistent): retry for a minute."""
    deadline, delay = clock() + (60.0 if fresh_role else 0.0), 2.0
    while True:
        try:
            return fn()
        except DeployError as e:
            if "InvalidArn" not in str(e) and "AccessDenied" not in str(e) or clock() >= deadline:
                raise
            log.info("waiting for the new IAM role to become usable: %s", e)
            sleep(delay)
            delay = min(delay * 2, 15.0)


def _ensure_group(scheduler: Any, group: str, tags: dict[str, str]) -> Change:
    got = _missing(scheduler.get_schedule_group, f"Scheduler GetScheduleGroup {group}", ["ResourceNotFoundException"],
                   Name=group)  # fmt: skip
    if got is not None:
        return Change("schedule group", group, "unchanged")
    aws_call(scheduler.create_schedule_group, f"Scheduler CreateScheduleGroup {group}", Name=group,
          Tags=_tag_list(tags))  # fmt: skip
    return Change("schedule group", group, "created")


_SCHEDULE_FIELDS = ("ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "State", "Description",
                    "Target")  # fmt: skip


def _ensure_schedule(scheduler: Any, want: dict[str, Any]) -> Change:
    name, group = want["Name"], want["GroupName"]
    got = _missing(scheduler.get_schedule, f"Scheduler GetSchedule {name}", ["ResourceNotFoundException"],
                   Name=name, GroupName=group)  # fmt: skip
    if got is None:
        aws_call(scheduler.create_schedule, f"Scheduler CreateSchedule {name}", **want)
        return Change("schedule", name, "created")
    if all(_same(got.get(k), want[k]) for k in _SCHEDULE_FIELDS):
        return Change("schedule", name, "unchanged")
    aws_call(scheduler.update_schedule, f"Scheduler UpdateSchedule {name}", **want)
    return Change("schedule", name, "updated")


def _same(got: Any, want: Any) -> bool:  # noqa: ANN401
    """`want` is contained in `got` (AWS adds defaults: a target's retry policy, the schedule's ARN...)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(_same(got.get(k), v) for k, v in want.items())
    return got == want


def _prune(clients: Clients, plan: Plan) -> list[Change]:
    """Delete the schedules and state machines of this prefix whose table is no longer scheduled."""
    out = []
    group = plan.prefix
    listed = _pages(clients.scheduler, "list_schedules", f"Scheduler ListSchedules in {group}", "Schedules",
                    GroupName=group)  # fmt: skip
    for name in [s["Name"] for s in listed]:
        if name not in plan.schedules:
            aws_call(clients.scheduler.delete_schedule, f"Scheduler DeleteSchedule {name}", Name=name, GroupName=group)
            out.append(Change("schedule", name, "deleted"))
    for m in _pages(clients.sfn, "list_state_machines", "Step Functions ListStateMachines", "stateMachines"):
        if not m["name"].startswith(f"{group}-") or m["name"] in plan.state_machines:
            continue
        tags = aws_call(clients.sfn.list_tags_for_resource, f"Step Functions tags of {m['name']}",
                     resourceArn=m["stateMachineArn"]).get("tags", [])  # fmt: skip
        if {"key": MANAGED_TAG, "value": group} not in tags:
            continue  # a name like ours, but not ours: never delete it
        aws_call(clients.sfn.delete_state_machine, f"Step Functions DeleteStateMachine {m['name']}",
              stateMachineArn=m["stateMachineArn"])  # fmt: skip
        out.append(Change("state machine", m["name"], "deleted"))
    return out


def _tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def check_tables(config: Config, tables: Optional[Sequence[str]]) -> list[str]:
    """The scheduled tables to apply: all of `schedule.tables`, or those named (each must be scheduled)."""
    scheduled = list(config.schedule.tables)
    if not tables:
        if not scheduled:
            raise ConfigError(f"{config.source_file}: schedule.tables: no table has a schedule (conf/README.md)")
        return scheduled
    for name in tables:
        config.table(name)
        if name not in config.schedule.tables:
            raise ConfigError(f"{config.source_file}: schedule.tables.{name}: {name!r} has no schedule (add a cron)")
    return list(tables)
