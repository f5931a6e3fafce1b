"""source.read_source: Spark's own read failures are one-line input errors; a Python bug stays a bug."""

from __future__ import annotations

import pytest
from pyspark.sql.readwriter import DataFrameReader

from lakeloader.config import SourceConfig
from lakeloader.errors import ConfigError, InputError
from lakeloader.source import read_source

pytestmark = pytest.mark.spark


def test_a_file_that_is_not_its_format_is_an_input_error(spark, tmp_path):
    (tmp_path / "a.parquet").write_text("id,name\n1,x\n")
    with pytest.raises(InputError, match="cannot read .* as parquet"):
        read_source(spark, SourceConfig(path=str(tmp_path), format="parquet"), [str(tmp_path)], "tables.t")


def test_a_missing_path_is_input_not_found(spark, tmp_path):
    with pytest.raises(InputError, match="input not found: no data files at"):
        read_source(spark, SourceConfig(path="x", format="parquet"), [str(tmp_path / "nope")], "tables.t")


def test_a_bad_ddl_schema_is_a_config_error(spark, tmp_path):
    src = SourceConfig(path="x", format="csv", schema="id BIGIN")
    with pytest.raises(ConfigError, match=r"tables\.t\.source\.schema: not a valid DDL schema"):
        read_source(spark, src, [str(tmp_path)], "tables.t")


def test_a_python_bug_during_the_read_is_not_reported_as_bad_input(spark, tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text("id\n1\n")

    def broken(self, *args, **kwargs):
        raise TypeError("a bug in lakeloader, not in the input")

    monkeypatch.setattr(DataFrameReader, "load", broken)
    with pytest.raises(TypeError, match="a bug in lakeloader"):
        read_source(spark, SourceConfig(path=str(tmp_path), format="csv", schema="id INT"), [str(tmp_path)], "tables.t")
