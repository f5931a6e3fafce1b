"""Packaging for lakeloader: the library lives in lib/, the console script is `lakeloader`."""

from setuptools import find_packages, setup

setup(
    name="lakeloader",
    version="0.1.0",
    description="Move Hadoop data into an S3 data lake that Athena can query: Spark on EMR, Glue, Athena.",
    # 3.11: the pins of constraints.txt need it (pyarrow 26, networkx 3.6); EMR 7 nodes get it from the
    # bootstrap (emr.python defaults to python3.11). The Makefile checks the same floor (PYTHON_MIN).
    python_requires=">=3.11",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"lakeloader": ["log4j2.properties"]},  # local sessions' quiet JVM start (session.py)
    # Ranges match EMR 7.x (Spark 3.5, Delta 3.3); exact versions live in constraints.txt.
    install_requires=[
        "pyspark==3.5.*",
        "delta-spark==3.3.*",
        "boto3>=1.34",
        "pyyaml>=6",
        "duckdb==1.4.4",
        "duckdb-ext-httpfs==1.4.4.*",
        "sqlglot>=25",
        "pyarrow>=14",
        "deltalake>=0.20",  # the driver reads Delta logs (stats, restore, local queries)
    ],
    extras_require={
        "test": ["pytest>=8", "chispa>=0.10", "moto[server]>=5", "ruff>=0.5", "pandas>=2"],
        # awswrangler, a bench contender, gets a venv of its own (bench/requirements-awswrangler.txt):
        # every release needs pyarrow<26 or numpy<2, and this project pins pyarrow 26.
        "bench": ["matplotlib>=3.8"],
    },
    entry_points={"console_scripts": ["lakeloader=lakeloader.cli:main"]},
)
