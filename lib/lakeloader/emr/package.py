"""Packaging and content-addressed upload: the wheel, the `--py-files` zip, the job, constraints and bootstrap.

Every artifact's S3 key is derived from its content, so an unchanged file is never uploaded again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from lakeloader.emr.calls import aws_call, object_exists, split_s3
from lakeloader.errors import DeployError

log = logging.getLogger(__name__)

BOOTSTRAP_SCRIPT = "install-lakeloader.sh"
CODE_ZIP = "lakeloader.zip"
# 1980-01-01, the earliest zip timestamp: rebuilding unchanged code gives byte-identical archives, so the
# content-addressed keys stay the same and a rerun uploads nothing.
SOURCE_DATE_EPOCH = 315532800
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Artifact:
    """One local file to upload; its S3 key is derived from its content."""

    role: str
    path: Path
    sha256: str
    size: int

    @property
    def name(self) -> str:
        """The file name it keeps in S3 (and, for `--files`, in the driver's working directory)."""
        return self.path.name

    def uri(self, code_location: str) -> str:
        """`<code_location>/<sha256[:16]>/<name>`: a new key for new content, the same key for the same."""
        return f"{code_location.rstrip('/')}/{self.sha256[:16]}/{self.name}"

    @classmethod
    def of(cls, role: str, path: Path) -> Artifact:
        """Hash a local file."""
        data = path.read_bytes()
        return cls(role, path, hashlib.sha256(data).hexdigest(), len(data))


@dataclass(frozen=True)
class CodeBundle:
    """Everything a deploy ships except the config file: built once, reusable across deploys."""

    wheel: Artifact
    code: Artifact
    job: Artifact
    constraints: Artifact
    bootstrap: tuple[Artifact, ...]

    def artifacts(self) -> list[Artifact]:
        """In upload order."""
        return [self.wheel, self.code, self.job, self.constraints, *self.bootstrap]


def project_root() -> Path:
    """The checkout deploy-step packages: the one this module lives in (an editable install), else the cwd."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "setup.py").is_file() and (here / "jobs").is_dir() else Path.cwd()


def build_code(root: Path, dist: Optional[Path] = None) -> CodeBundle:
    """Build the wheel and the `--py-files` zip into dist/ and hash them with the job, constraints and bootstrap."""
    dist = dist or root / "dist"
    job = root / "jobs" / "ingest.py"
    constraints = root / "constraints.txt"
    scripts = sorted((root / "bootstrap").glob("*.sh"))
    for need in (job, constraints, root / "bootstrap" / BOOTSTRAP_SCRIPT):
        if not need.is_file():
            raise DeployError(f"{need}: missing from the checkout at {root}; run deploy-step from a lakeloader clone")
    dist.mkdir(parents=True, exist_ok=True)
    return CodeBundle(
        wheel=Artifact.of("wheel", build_wheel(root, dist)),
        code=Artifact.of("py-files", build_code_zip(root, dist)),
        job=Artifact.of("job", job),
        constraints=Artifact.of("constraints", constraints),
        bootstrap=tuple(Artifact.of("bootstrap", s) for s in scripts),
    )


def build_wheel(root: Path, dist: Path) -> Path:
    """`pip wheel` from a clean copy of the sources (a stale build/ cannot leak into it); reproducible bytes."""
    with tempfile.TemporaryDirectory(prefix="lakeloader-wheel-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        src.mkdir()
        for name in ("setup.py", "pyproject.toml", "setup.cfg", "MANIFEST.in"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        shutil.copytree(root / "lib", src / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(src)]
        if _can_build_without_isolation():
            cmd.insert(4, "--no-build-isolation")  # offline and faster: the running interpreter has the tools
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        log.debug("building the wheel: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wheels = sorted(out.glob("lakeloader-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DeployError(f"building the wheel failed: {last} (command: {' '.join(cmd)})")
        target = dist / wheels[0].name
        shutil.copyfile(wheels[0], target)
    return target


def _can_build_without_isolation() -> bool:
    """True when this interpreter can build a wheel itself (setuptools >= 70.1 has bdist_wheel, or `wheel`)."""
    import importlib.util

    if importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    except Exception:  # an odd version string just means: let pip isolate the build
        return False
    return (major, minor) >= (70, 1)


def build_code_zip(root: Path, dist: Path) -> Path:
    """lib/lakeloader as a zip for `spark-submit --py-files`, entries sorted and timestamps fixed."""
    package = root / "lib" / "lakeloader"
    target = dist / CODE_ZIP
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root / "lib").as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return target


@dataclass(frozen=True)
class Upload:
    """One artifact's destination; `uploaded` is None in a dry run, False when the key already existed."""

    artifact: Artifact
    uri: str
    uploaded: Optional[bool] = None

    def to_dict(self) -> dict[str, Any]:
        """The upload-list entry --dry-run prints."""
        return {
            "role": self.artifact.role,
            "local": str(self.artifact.path),
            "bytes": self.artifact.size,
            "sha256": self.artifact.sha256,
            "uri": self.uri,
        }


def upload_artifacts(s3: Any, planned: list[Upload]) -> list[Upload]:
    """Put each artifact at its content-addressed key unless that key already exists."""
    done = []
    for u in planned:
        if object_exists(s3, u.uri):
            log.debug("unchanged %s", u.uri)
            done.append(dataclasses.replace(u, uploaded=False))
            continue
        bucket, key = split_s3(u.uri)
        body = u.artifact.path.read_bytes()
        aws_call(
            s3.put_object, f"upload {u.uri}", Bucket=bucket, Key=key, Body=body, Metadata={"sha256": u.artifact.sha256}
        )
        log.debug("uploaded  %s (%d bytes)", u.uri, u.artifact.size)
        done.append(dataclasses.replace(u, uploaded=True))
    return done
