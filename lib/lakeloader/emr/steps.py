"""The EMR step: the spark-submit command it runs, and waiting for it to end."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

from lakeloader.config import EmrConfig, TableConfig
from lakeloader.emr.calls import aws_call
from lakeloader.errors import DeployError
from lakeloader.retry import Backoff, attempts

log = logging.getLogger(__name__)

STEP_JAR = "command-runner.jar"
TERMINAL_STEP_STATES = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")

# Settings every lakeloader step is submitted with (the config's `emr.spark_conf` can override them).
STEP_SPARK_CONF = {
    # A second YARN attempt would rerun the whole load while the first attempt's table lock is still
    # held from another host: fail the step instead and let the operator rerun it.
    "spark.yarn.maxAppAttempts": "1",
    # The step lasts as long as the application, so the step's state is the job's state.
    "spark.yarn.submit.waitAppCompletion": "true",
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


def wait_for_step(
    emr_client: Any,
    cluster_id: str,
    step_id: str,
    emr: EmrConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll DescribeStep with exponential backoff until the step ends or `emr.step_timeout_s` passes.

    Not boto3's StepComplete waiter: it polls at a fixed 30 s, has no acceptor for INTERRUPTED (it would
    wait out the whole timeout), and could not log each state change as it happens.
    """
    # No jitter: one poller per deploy, and the pauses are what its user reads in the log.
    policy = Backoff(
        initial_s=emr.poll_s,
        max_s=emr.poll_max_s,
        jitter=0,
        timeout_s=emr.step_timeout_s,
        sleep=sleep,
        clock=clock,
    )
    last, state = None, ""
    for _ in attempts(policy):
        step = aws_call(emr_client.describe_step, f"EMR step {step_id}", ClusterId=cluster_id, StepId=step_id)["Step"]
        state = step["Status"]["State"]
        if state != last:
            log.info("step %s on %s: %s", step_id, cluster_id, state)
            last = state
        if state in TERMINAL_STEP_STATES:
            return step
    raise DeployError(
        f"step {step_id} on {cluster_id} is still {state} after {emr.step_timeout_s:g} s "
        f"(emr.step_timeout_s); it keeps running: follow it with `aws emr describe-step --cluster-id "
        f"{cluster_id} --step-id {step_id}` or stop it with `aws emr cancel-steps`"
    )
