"""Runs inside the Airflow test venv (not the project's): load a generated DAG file as Airflow would, and print
each DAG's tasks (operator class, downstream tasks, trigger rule) and schedule as JSON on stdout."""

import json
import runpy
import sys

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

module = runpy.run_path(sys.argv[1])
out = {}
for value in module.values():
    if isinstance(value, DAG):
        tasks = {}
        for t in value.tasks:
            rule = getattr(t.trigger_rule, "value", t.trigger_rule)
            tasks[t.task_id] = {"type": type(t).__name__, "downstream": sorted(t.downstream_task_ids), "rule": rule}
        out[value.dag_id] = {"tasks": tasks, "schedule": str(getattr(value, "schedule", ""))}
print(json.dumps(out))
