"""The pinned JVM jars (jvm/pom.xml): where `make install` puts them and which a classpath needs.

jvm/pom.xml is the one manifest: Maven resolves it into the cache (in Maven's repository layout) and
this module reads the same file, so a version is written down exactly once.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Optional

from lakeloader.errors import ConfigError

JARS_DIR_ENV = "LAKELOADER_JARS_DIR"
POM = Path(__file__).resolve().parents[2] / "jvm" / "pom.xml"
FETCH_COMMAND = "make install"  # what fetches them (mvn dependency:resolve over jvm/pom.xml)

# lakeloader's one JVM class (jvm/src): Hadoop's local file system without a `chmod`/`ls` process per call.
# `make install` compiles it with javac into build/jvm; without a JDK it is left out and Hadoop's own is used.
LOCAL_FS_CLASS = "io.lakeloader.hadoop.NioLocalFileSystem"
LOCAL_FS_JAR = POM.parent.parent / "build" / "jvm" / "lakeloader-localfs.jar"

_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@dataclass(frozen=True)
class Artifact:
    """One pinned Maven artifact."""

    group: str
    artifact: str
    version: str
    classifier: str = ""

    @property
    def file_name(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.jar"

    def path(self, repo: Path) -> Path:
        """Where Maven's repository layout puts this jar under `repo`."""
        return repo.joinpath(*self.group.split("."), self.artifact, self.version, self.file_name)


def jars_dir() -> Path:
    """The local Maven repository holding the jars: $LAKELOADER_JARS_DIR or ~/.cache/lakeloader/jars."""
    return Path(os.environ.get(JARS_DIR_ENV) or Path.home() / ".cache" / "lakeloader" / "jars").expanduser()


def artifacts(profile: str, pom: Optional[Path] = None) -> tuple[Artifact, ...]:
    """The artifacts of one profile of `pom` (default jvm/pom.xml); () where there is no pom (an installed wheel)."""
    return _artifacts(profile, pom or POM)


@cache
def _artifacts(profile: str, pom: Path) -> tuple[Artifact, ...]:
    """Parse one profile's dependencies, with ${properties} resolved."""
    if not pom.is_file():  # an installed wheel, not a checkout: EMR, where the cluster ships the jars
        return ()
    root = ET.parse(pom).getroot()
    props = {el.tag.split("}")[1]: (el.text or "").strip() for el in root.find("m:properties", _NS) or []}

    def text(dep: ET.Element, tag: str) -> str:
        raw = (dep.findtext(f"m:{tag}", default="", namespaces=_NS) or "").strip()
        return re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], raw)

    for prof in root.iterfind("m:profiles/m:profile", _NS):
        if prof.findtext("m:id", namespaces=_NS) == profile:
            deps = prof.iterfind("m:dependencies/m:dependency", _NS)
            return tuple(
                Artifact(text(d, "groupId"), text(d, "artifactId"), text(d, "version"), text(d, "classifier"))
                for d in deps
            )
    raise KeyError(f"{pom}: no profile {profile!r}")


def missing(profile: str) -> list[Artifact]:
    """The profile's artifacts not in the jars directory."""
    repo = jars_dir()
    return [a for a in artifacts(profile) if not a.path(repo).is_file()]


def jar_paths(profile: str) -> list[str]:
    """Paths of every jar of `profile`; [] when any is missing (callers that need them call require())."""
    if not artifacts(profile) or missing(profile):
        return []
    return [str(a.path(jars_dir())) for a in artifacts(profile)]


def local_fs_jar() -> Optional[Path]:
    """The compiled NioLocalFileSystem jar, or None where `make install` could not build it (no javac)."""
    return LOCAL_FS_JAR if LOCAL_FS_JAR.is_file() else None


def require(profile: str, what: str) -> list[str]:
    """Paths of every jar of `profile`, or a one-line ConfigError naming the first missing jar and the fix."""
    if not artifacts(profile):
        raise ConfigError(
            f"{what} needs the jars of {POM}, which is not there: run lakeloader from its source checkout"
        )
    gone = missing(profile)
    if gone:
        more = f" (and {len(gone) - 1} more)" if len(gone) > 1 else ""
        raise ConfigError(
            f"{what} needs the jar {gone[0].file_name}{more}, which is not in {jars_dir()}: "
            f"run `{FETCH_COMMAND}` to fetch the pinned jars of jvm/pom.xml"
        )
    return jar_paths(profile)


def main(argv: list[str] | None = None) -> int:
    """`python -m lakeloader.jvm check PROFILE`: exit 0 when every jar of PROFILE is cached, else 1."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "check":
        sys.stderr.write("usage: python -m lakeloader.jvm check PROFILE\n")
        return 2
    gone = missing(args[1])
    for a in gone:
        sys.stderr.write(f"missing: {a.path(jars_dir())}\n")
    return 1 if gone else 0


if __name__ == "__main__":
    raise SystemExit(main())
