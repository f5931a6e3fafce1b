"""lakeloader: move Hadoop data into an S3 data lake that Athena can query."""

__version__ = "0.1.0"
