"""What `lakeloader schedule` creates on AWS, built from the config (pure); schedule/apply.py applies it.

Per scheduled table: a Step Functions state machine `<prefix>-<table>` and an EventBridge Scheduler schedule
`<prefix>-<table>` in the schedule group `<prefix>`; shared: the IAM roles `<prefix>-states` (the executions)
and `<prefix>-scheduler` (starting them), unless the config names existing roles, and the SNS topic.
Ownership: lakeloader deletes only what it marks as its own, state machines tagged `lakeloader:managed=<prefix>`
and schedules in its own group, so foreign resources with similar names are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from lakeloader.config import Config
from lakeloader.errors import ConfigError, DeployError
from lakeloader.schedule.stepfunctions import build_definition, check_definition

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
