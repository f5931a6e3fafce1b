"""The pinned JVM jars (jvm/pom.xml): finding them in the cache, and a missing one as one line, exit 2."""

from __future__ import annotations

import uuid

import boto3
import pytest

from conftest import events_table
from lakeloader import jvm
from lakeloader.cli import main
from lakeloader.errors import ConfigError
from lakeloader.sample import generate


def test_spark_profile_pins_s3a_the_committer_binding_and_delta():
    names = {(a.artifact, a.version) for a in jvm.artifacts("spark")}
    assert names == {
        ("hadoop-aws", "3.3.4"),  # must equal pyspark 3.5's own Hadoop client
        ("aws-java-sdk-bundle", "1.12.262"),
        ("spark-hadoop-cloud_2.12", "3.5.7"),
        ("delta-spark_2.12", "3.3.2"),
        ("delta-storage", "3.3.2"),
    }


def test_make_install_fetched_every_jar():
    # CI runs make install first: a missing jar here is a broken install, not a reason to skip.
    assert jvm.missing("spark") == []
    assert all(p.endswith(".jar") for p in jvm.jar_paths("spark"))


def test_require_with_an_empty_cache_is_one_line_naming_the_jar_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(jvm.JARS_DIR_ENV, str(tmp_path))
    assert jvm.jar_paths("spark") == []
    with pytest.raises(ConfigError) as info:
        jvm.require("spark", "s3a")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("config error: s3a needs the jar hadoop-aws-3.3.4.jar (and 4 more)")
    assert str(tmp_path) in msg and "`make install`" in msg


def test_check_command_lists_what_is_missing(tmp_path, monkeypatch, capsys):
    assert jvm.main(["check", "spark"]) == 0
    monkeypatch.setenv(jvm.JARS_DIR_ENV, str(tmp_path))
    assert jvm.main(["check", "spark"]) == 1
    assert capsys.readouterr().err.count("missing: ") == 5
    assert jvm.main(["nonsense"]) == 2


@pytest.fixture
def events(tmp_path):
    inp = tmp_path / "in"
    generate(inp, rows=200, files=1, days=1, seed=2)
    return inp


@pytest.mark.spark
@pytest.mark.aws
def test_run_to_s3_with_a_missing_jar_is_one_line_exit_2_and_writes_nothing(
    spark, moto_endpoint, write_config, events, tmp_path, monkeypatch, capsys
):
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    cfg = write_config(
        {"events": events_table()},
        warehouse=f"s3://{bucket}/warehouse",
        catalog={"kind": "glue"},
        aws={"region": "us-east-1", "endpoint_url": moto_endpoint},
    )
    monkeypatch.setenv(jvm.JARS_DIR_ENV, str(tmp_path / "empty"))
    assert main(["--quiet", "run", "--config", cfg, "--table", "events", "--input", str(events)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"config error: tables.events: warehouse s3://{bucket}/warehouse (s3a) needs the jar "
        f"hadoop-aws-3.3.4.jar (and 4 more), which is not in {tmp_path / 'empty'}: "
        "run `make install` to fetch the pinned jars of jvm/pom.xml"
    ]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert "demo" not in [d["Name"] for d in glue.get_databases()["DatabaseList"]]


@pytest.mark.spark
def test_delta_run_with_a_missing_jar_is_exit_2_and_a_local_parquet_run_needs_none(
    spark, write_config, events, tmp_path, monkeypatch, capsys
):
    cfg = write_config({"events": events_table(format="delta"), "plain": events_table()})
    monkeypatch.setenv(jvm.JARS_DIR_ENV, str(tmp_path / "empty"))
    assert main(["--quiet", "run", "--config", cfg, "--table", "events", "--input", str(events)]) == 2
    err = capsys.readouterr().err
    assert "tables.events: format: delta (delta-spark) needs the jar hadoop-aws-3.3.4.jar" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "warehouse" / "demo" / "events").exists()
    # A file:// Parquet table needs no jar: Spark's own classes write it.
    assert main(["run", "--config", cfg, "--table", "plain", "--input", str(events)]) == 0


def test_without_the_manifest_a_session_adds_no_jars_and_require_says_why(tmp_path, monkeypatch):
    # An installed wheel (as on EMR, whose cluster ships its own jars) has no jvm/pom.xml beside it.
    monkeypatch.setattr(jvm, "POM", tmp_path / "pom.xml")
    assert jvm.artifacts("spark") == () and jvm.jar_paths("spark") == []
    with pytest.raises(ConfigError, match="s3a needs the jars of .*pom.xml, which is not there"):
        jvm.require("spark", "s3a")
