"""How `lakeloader schedule` applies its plan (schedule/resources.py) on AWS: idempotent, owned resources only.

Each resource is read first and created, updated or left alone; with pruning, the schedules and state machines
of this prefix whose table is no longer scheduled are deleted, only when they carry lakeloader's mark.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from lakeloader.config import Config
from lakeloader.emr.calls import aws_call  # one wrapper turns every AWS refusal into a one-line error
from lakeloader.errors import DeployError
from lakeloader.retry import Backoff, attempts
from lakeloader.schedule.resources import MANAGED_TAG, Plan, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One resource and what `schedule` did to it: created | updated | unchanged | deleted."""

    kind: str
    name: str
    action: str


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
    policy = Backoff(
        initial_s=2.0, max_s=15.0, jitter=0, timeout_s=60.0 if fresh_role else 0.0, sleep=sleep, clock=clock
    )
    for _ in attempts(policy):
        try:
            return fn()
        except DeployError as e:
            if "InvalidArn" not in str(e) and "AccessDenied" not in str(e):
                raise
            error = e
            log.info("waiting for the new IAM role to become usable: %s", e)
    raise error


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
