"""Daily loads on AWS: per table, an EventBridge Scheduler schedule starting a Step Functions state machine
that drives EMR (transient or existing cluster), the load step, the validation step and a loud failure;
or the same as an Airflow DAG for MWAA. docs/schedule.md compares the ways to run it every day.

- command.py: `lakeloader schedule`; timing.py: a scheduled run's date
- stepfunctions.py: the state machine (ASL); resources.py: what to create (pure); apply.py: applying it
- airflow.py: the DAG
"""
