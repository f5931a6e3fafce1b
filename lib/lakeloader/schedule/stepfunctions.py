"""The state machine of one table's scheduled load, in Amazon States Language, and a structural check of it.

    run date -> [create cluster] -> load step (.sync) -> validation step (.sync) -> [terminate] -> succeed
                        any failure -> [terminate] -> [SNS message] -> Fail

The EMR requests are the ones `deploy-step` sends (RunJobFlow from the `emr:` section, the spark-submit step),
so a scheduled run and a deployed step run the same job the same way. The scheduler passes the scheduled time;
an execution started by hand may pass `{"run_date": "YYYY-MM-DD"}` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Optional

SYNC_CREATE = "arn:aws:states:::elasticmapreduce:createCluster.sync"
SYNC_STEP = "arn:aws:states:::elasticmapreduce:addStep.sync"
SYNC_TERMINATE = "arn:aws:states:::elasticmapreduce:terminateCluster.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
FAILED_ERROR = "lakeloader.LoadFailed"

# Transient EMR API errors worth a retry inside the execution; a failed step is not one of them.
_RETRY = [{"ErrorEquals": ["EMR.AmazonElasticMapReduceException"], "IntervalSeconds": 30, "MaxAttempts": 3,
           "BackoffRate": 2.0}]  # fmt: skip
_CATCH_ALL = "States.ALL"


def intrinsic_literal(text: str) -> str:
    """A string literal inside an intrinsic function: quoted, with ' { } and \\ escaped."""
    return "'" + re.sub(r"([\\'{}])", r"\\\1", text) + "'"


def dynamic_args(args: Sequence[str], *tail: str) -> str:
    """`States.Array('spark-submit', ..., $.run_date)`: the step's arguments with paths appended unquoted."""
    return "States.Array(" + ", ".join([*(intrinsic_literal(a) for a in args), *tail]) + ")"


def _step_task(step: dict[str, Any], args_expr: str, next_state: str, on_error: str) -> dict[str, Any]:
    hadoop = {"Jar": step["HadoopJarStep"]["Jar"], "Args.$": args_expr}
    return {
        "Type": "Task",
        "Resource": SYNC_STEP,
        "Parameters": {
            "ClusterId.$": "$.cluster.ClusterId",
            "Step": {"Name": step["Name"], "ActionOnFailure": "CONTINUE", "HadoopJarStep": hadoop},
        },
        "ResultPath": None,
        "Catch": [{"ErrorEquals": [_CATCH_ALL], "ResultPath": "$.error", "Next": on_error}],
        "Next": next_state,
    }


def build_definition(
    table: str,
    load_step: dict[str, Any],
    validate_step: dict[str, Any],
    days_before: int,
    run_job_flow: Optional[dict[str, Any]],
    cluster_id: Optional[str],
    topic_arn: Optional[str],
) -> dict[str, Any]:
    """The ASL definition: `run_job_flow` for a transient cluster, else `cluster_id` of a running one.

    `load_step` / `validate_step` are deploy.build_step() requests without a run date; the run date is appended
    at run time (`--run-date <date> [--days-before N]`: jobs/ingest.py subtracts the days).
    """
    transient = run_job_flow is not None
    first = "Create cluster" if transient else "Cluster"
    report = "Notify" if topic_arn else "Failed"
    fail_path = "Terminate after failure" if transient else report
    load_tail = ["'--run-date'", "$.run_date"] + (["'--days-before'", f"'{days_before}'"] if days_before else [])
    states: dict[str, Any] = {
        "Run date": {
            "Type": "Choice",
            "Comment": "An execution started by hand may give run_date; the scheduler gives scheduled_time.",
            "Choices": [{"Variable": "$.run_date", "IsPresent": True, "Next": first}],
            "Default": "Run date from schedule",
        },
        "Run date from schedule": {
            "Type": "Pass",
            "Parameters": {"run_date.$": "States.ArrayGetItem(States.StringSplit($.scheduled_time, 'T'), 0)"},
            "Next": first,
        },
    }
    if transient:
        states["Create cluster"] = {
            "Type": "Task",
            "Resource": SYNC_CREATE,
            "Parameters": run_job_flow,
            "ResultSelector": {"ClusterId.$": "$.ClusterId"},
            "ResultPath": "$.cluster",
            "Retry": _RETRY,
            "Catch": [{"ErrorEquals": [_CATCH_ALL], "ResultPath": "$.error", "Next": report}],
            "Next": "Load",
        }  # fmt: skip
    else:
        states["Cluster"] = {"Type": "Pass", "Result": {"ClusterId": cluster_id}, "ResultPath": "$.cluster",
                             "Next": "Load"}  # fmt: skip
    after_validate = "Terminate cluster" if transient else "Succeeded"
    states["Load"] = _step_task(load_step, dynamic_args(load_step["HadoopJarStep"]["Args"], *load_tail), "Validate",
                                fail_path)  # fmt: skip
    states["Validate"] = _step_task(
        validate_step, dynamic_args(validate_step["HadoopJarStep"]["Args"]), after_validate, fail_path
    )
    if transient:
        terminate = {"Type": "Task", "Resource": SYNC_TERMINATE, "Parameters": {"ClusterId.$": "$.cluster.ClusterId"},
                     "ResultPath": None, "Retry": _RETRY}  # fmt: skip
        states["Terminate cluster"] = {**terminate, "Next": "Succeeded"}
        # A cluster that cannot be terminated still ends by its idle timeout; the run's own failure is the news.
        states["Terminate after failure"] = {
            **terminate,
            "Catch": [{"ErrorEquals": [_CATCH_ALL], "ResultPath": "$.terminate_error", "Next": report}],
            "Next": report,
        }  # fmt: skip
    if topic_arn:
        states["Notify"] = {
            "Type": "Task",
            "Resource": SNS_PUBLISH,
            "Parameters": {
                "TopicArn": topic_arn,
                "Subject": f"lakeloader: scheduled load of {table} failed",
                "Message.$": f"States.Format('lakeloader: the scheduled load of {table} for run date {{}} failed: "
                "{}: {}', $.run_date, $.error.Error, $.error.Cause)",
            },
            "ResultPath": None,
            "Catch": [{"ErrorEquals": [_CATCH_ALL], "ResultPath": "$.notify_error", "Next": "Failed"}],
            "Next": "Failed",
        }
    states["Failed"] = {"Type": "Fail", "Error": FAILED_ERROR, "Cause": f"the scheduled load of {table} failed; "
                        "the execution's history has the failed state and its error"}  # fmt: skip
    states["Succeeded"] = {"Type": "Succeed"}
    return {
        "Comment": f"lakeloader: scheduled load of {table} (generated by `lakeloader schedule`; do not edit)",
        "StartAt": "Run date",
        "States": states,
    }


# --------------------------------------------------------------------------- structural check

_STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
_TERMINAL = {"Succeed", "Fail"}
_RESOURCE_RE = re.compile(r"^arn:aws[a-z-]*:(states:::[a-z0-9-]+:[A-Za-z0-9.]+|lambda:[a-z0-9-]+:\d{12}:function:.+)$")
_PATH_RE = re.compile(r"^(\$|States\.)")
_ALLOWED = {
    "Task": {"Type", "Comment", "Resource", "Parameters", "ResultSelector", "ResultPath", "InputPath", "OutputPath",
             "Retry", "Catch", "Next", "End", "TimeoutSeconds", "HeartbeatSeconds"},
    "Pass": {"Type", "Comment", "Parameters", "Result", "ResultPath", "InputPath", "OutputPath", "Next", "End"},
    "Choice": {"Type", "Comment", "Choices", "Default", "InputPath", "OutputPath"},
    "Succeed": {"Type", "Comment", "InputPath", "OutputPath"},
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}  # fmt: skip


def check_definition(definition: dict[str, Any]) -> list[str]:
    """Problems Step Functions would reject the definition for (empty when it is valid).

    What is checked: the top-level shape, each state's fields for its type, Next/End, that every transition
    names a state, that every state is reachable, Task resources, `.$` fields holding paths or intrinsic
    functions, and Catch/Retry with `States.ALL` alone and last. This stands in for the service's
    ValidateStateMachineDefinition where it is not available (moto); against AWS that API runs too.
    """
    errors: list[str] = []
    states = definition.get("States")
    if set(definition) - {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}:
        errors.append(f"top level: unknown field(s) {sorted(set(definition) - {'Comment', 'StartAt', 'States'})}")
    if not isinstance(states, dict) or not states:
        return errors + ["States: must be a non-empty object"]
    if definition.get("StartAt") not in states:
        errors.append(f"StartAt: {definition.get('StartAt')!r} is not a state")
    edges: dict[str, list[str]] = {}
    for name, state in states.items():
        where = f"States.{name}"
        if not 1 <= len(name) <= 80:
            errors.append(f"{where}: a state name has 1 to 80 characters")
        kind = state.get("Type")
        if kind not in _STATE_TYPES:
            errors.append(f"{where}.Type: {kind!r} is not a state type")
            continue
        allowed = _ALLOWED.get(kind)
        if allowed is not None and set(state) - allowed:
            errors.append(f"{where}: field(s) {sorted(set(state) - allowed)} do not apply to a {kind} state")
        nexts = _transitions(state)
        if kind not in _TERMINAL and kind != "Choice":
            if ("Next" in state) == bool(state.get("End")):
                errors.append(f"{where}: needs exactly one of Next and End: true")
        if kind == "Task" and not _RESOURCE_RE.match(str(state.get("Resource", ""))):
            errors.append(f"{where}.Resource: {state.get('Resource')!r} is not a service integration or Lambda ARN")
        if kind == "Choice":
            choices = state.get("Choices")
            if not isinstance(choices, list) or not choices or not all("Next" in c for c in choices):
                errors.append(f"{where}.Choices: a non-empty list of rules, each with Next")
        for field in ("Retry", "Catch"):
            errors += _check_handlers(state.get(field), f"{where}.{field}", field == "Catch")
        errors += _check_paths(state, where)
        for target in nexts:
            if target not in states:
                errors.append(f"{where}: transition to {target!r}, which is not a state")
        edges[name] = [t for t in nexts if t in states]
    seen, todo = set(), [definition.get("StartAt")]
    while todo:
        name = todo.pop()
        if name in seen or name not in edges:
            continue
        seen.add(name)
        todo += edges[name]
    errors += [f"States.{n}: not reachable from StartAt" for n in states if n not in seen and n in edges]
    return errors


def _transitions(state: dict[str, Any]) -> list[str]:
    out = [state["Next"]] if "Next" in state else []
    out += [c["Next"] for c in state.get("Choices", []) if isinstance(c, dict) and "Next" in c]
    out += [state["Default"]] if "Default" in state else []
    out += [c["Next"] for c in state.get("Catch", []) if isinstance(c, dict) and "Next" in c]
    return out


def _check_handlers(handlers: Any, where: str, catch: bool) -> list[str]:  # noqa: ANN401
    if handlers is None:
        return []
    if not isinstance(handlers, list) or not handlers:
        return [f"{where}: a non-empty list"]
    errors = []
    for i, h in enumerate(handlers):
        equals = h.get("ErrorEquals") if isinstance(h, dict) else None
        if not isinstance(equals, list) or not equals:
            errors.append(f"{where}[{i}].ErrorEquals: a non-empty list of error names")
        elif _CATCH_ALL in equals and (len(equals) > 1 or i != len(handlers) - 1):
            errors.append(f"{where}[{i}]: States.ALL must be alone and in the last {'catcher' if catch else 'retrier'}")
        if catch and "Next" not in h:
            errors.append(f"{where}[{i}]: a catcher needs Next")
    return errors


def _check_paths(node: Any, where: str) -> list[str]:  # noqa: ANN401
    """Every `<field>.$` holds a JSONPath or an intrinsic function."""
    errors: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith(".$") and not (isinstance(value, str) and _PATH_RE.match(value)):
                errors.append(f"{where}.{key}: {value!r} is neither a path ($...) nor an intrinsic function")
            errors += _check_paths(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            errors += _check_paths(value, f"{where}[{i}]")
    return errors
