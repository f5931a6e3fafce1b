"""`lakeloader deploy-step` on EMR, grouped by what each part does.

- package.py: build the wheel and the `--py-files` zip; upload every artifact content-addressed
- cluster.py: check the `emr:` settings; the RunJobFlow request; check an existing cluster
- steps.py: the spark-submit step; wait for it to end
- logs.py: a failed step's logs in S3 and the line that names the cause
- calls.py: the boto3 clients and one-line errors for AWS refusals
- deploy.py: the whole deploy, from packaging to the step's end

Dependencies reach the nodes through the bootstrap action (bootstrap/install-lakeloader.sh, run when
`--create-cluster` starts a cluster); lakeloader's own code ships with every step (`--py-files`), so a
long-lived cluster always runs the code that was deployed. docs/deploy.md explains the choice.
This package and aws.py are the only modules that call EMR and S3 for deployment.
"""

from lakeloader.emr.calls import Clients, split_s3
from lakeloader.emr.cluster import build_run_job_flow, check_emr, load_configurations
from lakeloader.emr.deploy import DeployResult, deploy_step, load_deploy_config
from lakeloader.emr.package import Artifact, Upload, build_code, project_root, upload_artifacts
from lakeloader.emr.steps import build_step

__all__ = [
    "Artifact",
    "Clients",
    "DeployResult",
    "Upload",
    "build_code",
    "build_run_job_flow",
    "build_step",
    "check_emr",
    "deploy_step",
    "load_configurations",
    "load_deploy_config",
    "project_root",
    "split_s3",
    "upload_artifacts",
]
