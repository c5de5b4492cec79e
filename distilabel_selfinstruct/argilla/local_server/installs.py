"""Everything that installs: Debian packages, the server venv (PyPI), OpenSearch (Maven
Central), the system user OpenSearch may run as.

None of it runs unless asked for (`install`, or `up --install`): plain `up` only calls
`missing_requirements` and fails with one line when something is missing. That keeps a
test run (tests/argilla/conftest.py runs plain `up`) from ever installing Java.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import zipfile
from importlib import resources
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .config import (
    KNN_VERSION,
    OPENSEARCH_SYSTEM_USER,
    OPENSEARCH_VERSION,
    SERVER_REQUIREMENTS,
    Settings,
    StatePaths,
)
from .output import LauncherError, Progress
from .processes import spawn_logged
from .state import read_stamp, venv_fingerprint, write_stamp, write_text_atomically

APT_TIMEOUT_SECONDS = 900
MAVEN_TIMEOUT_SECONDS = 1200
PIP_TIMEOUT_SECONDS = 1800
VENV_TIMEOUT_SECONDS = 300
MINIMUM_JAVA_MAJOR = 11
RESOURCE_PACKAGE = "distilabel_selfinstruct.argilla.local_server.resources"
KNN_COMPAT_MODULE = "argilla_local_knn_compat"

PAINLESS_DESCRIPTOR = f"""\
description=An easy, safe and fast scripting language for OpenSearch
version={OPENSEARCH_VERSION}
name=lang-painless
classname=org.opensearch.painless.PainlessPlugin
java.version=11
opensearch.version={OPENSEARCH_VERSION}
extended.plugins=
has.native.controller=false
"""
PAINLESS_POLICY = """\
grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";
  // needed to find the classloader to load allowlisted classes from
  permission java.lang.RuntimePermission "getClassLoader";
};
"""


def resource_bytes(name: str) -> bytes:
    """A file shipped in the package (works from a checkout, a wheel or a zip)."""
    return resources.files(RESOURCE_PACKAGE).joinpath(name).read_bytes()


def run_logged(
    command: Sequence[str],
    *,
    log_path: Path,
    timeout_seconds: float,
    failure: str,
    working_dir: Optional[Path] = None,
    environment: Optional[Mapping[str, str]] = None,
) -> None:
    """Runs `command` with its output appended to `log_path`; raises `failure` (with the
    log) when it fails or outlives its timeout.

    It runs in its own session so that a timeout or Ctrl-C stops its children too
    (apt-get's dpkg, mvn's JVM), as coreutils `timeout` did for the bash launcher."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = spawn_logged(command, log, log_path, failure, working_dir, environment)
        try:
            return_code = process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise LauncherError(
                f"{failure} (no result after {timeout_seconds:.0f} s)", log_path
            ) from None
        except BaseException:
            _kill_group(process)
            raise
    if return_code != 0:
        raise LauncherError(failure, log_path)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def java_major_version(version_output: str) -> Optional[int]:
    """The major version in `java -version` output: `"1.8.0_392"` is 8, `"17.0.9"` is 17."""
    match = re.search(r'version "([^"]+)"', version_output)
    if match is None:
        return None
    version = match.group(1)
    if version.startswith("1."):
        version = version[2:]
    leading_digits = re.match(r"\d+", version)
    return int(leading_digits.group(0)) if leading_digits else None


def find_java_home(settings: Settings) -> Optional[Path]:
    """The first Java >= 11 of ARGILLA_LOCAL_JAVA_HOME, JAVA_HOME and `java` on PATH."""
    candidates = []
    for home in (settings.java_home, settings.inherited_java_home):
        if home:
            candidates.append(Path(home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        # Through the alternatives symlinks to the real JDK, whose parent of bin/ is the home.
        java = candidate.resolve()
        try:
            result = subprocess.run(
                [str(java), "-version"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        major = java_major_version(result.stderr + result.stdout)
        if major is not None and major >= MINIMUM_JAVA_MAJOR:
            return java.parent.parent
    return None


def server_venv_ready(paths: StatePaths) -> bool:
    return paths.venv_python.exists() and read_stamp(paths.venv_stamp) == venv_fingerprint()


def system_user_exists(name: str = OPENSEARCH_SYSTEM_USER) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def missing_requirements(paths: StatePaths, run_as: str, java_home: Optional[Path]) -> list[str]:
    """What `up` needs but isn't there, each named with where `install` gets it."""
    missing = []
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package)")
    if java_home is None:
        missing.append("Java >= 11 (Debian package openjdk-17-jre-headless)")
    if not server_venv_ready(paths):
        missing.append(f"the server venv ({' '.join(SERVER_REQUIREMENTS)} from PyPI)")
    if not paths.opensearch_ready.exists():
        missing.append(f"OpenSearch {OPENSEARCH_VERSION} (Maven Central)")
    if run_as == "user" and not system_user_exists():
        missing.append(f"the system user {OPENSEARCH_SYSTEM_USER}")
    return missing


def extract_zip(archive: Path, destination: Path) -> None:
    """Unpacks `archive`, keeping the members' permission bits (zipfile drops them)."""
    with zipfile.ZipFile(archive) as opened:
        for member in opened.infolist():
            extracted = opened.extract(member, destination)
            permissions = (member.external_attr >> 16) & 0o777
            if permissions:
                os.chmod(extracted, permissions)


def sync_knn_compat(paths: StatePaths) -> None:
    """Puts the k-NN compatibility shim (see resources/argilla_local_knn_compat.py) into the
    server venv, with a .pth file that loads it in every server and worker process.

    Not an install: it copies our own file, so it runs on every `up` and a changed shim
    takes effect at the next start."""
    try:
        result = subprocess.run(
            [
                str(paths.venv_python),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise LauncherError(f"cannot locate the server venv's site-packages: {error}") from error
    site_packages = Path(result.stdout.strip())
    wanted = {
        site_packages / f"{KNN_COMPAT_MODULE}.py": resource_bytes(f"{KNN_COMPAT_MODULE}.py"),
        site_packages / f"{KNN_COMPAT_MODULE}.pth": f"import {KNN_COMPAT_MODULE}\n".encode(),
    }
    for path, content in wanted.items():
        try:
            if path.read_bytes() == content:
                continue
        except OSError:
            pass
        write_text_atomically(path, content.decode("utf-8"))


class Installer:
    """Installs what `missing_requirements` reports; each step is skipped when done."""

    def __init__(self, settings: Settings, paths: StatePaths, progress: Progress) -> None:
        self.settings = settings
        self.paths = paths
        self.progress = progress
        self._apt_updated = False

    def install_all(self, run_as: str) -> Path:
        """Installs everything; returns the Java home OpenSearch will use."""
        if shutil.which("redis-server") is None:
            self.apt_install("redis-server")
        java_home = find_java_home(self.settings)
        if java_home is None:
            self.apt_install("openjdk-17-jre-headless")
            java_home = find_java_home(self.settings)
            if java_home is None:
                raise LauncherError(
                    "installed openjdk-17-jre-headless but found no Java >= 11",
                    self.paths.install_log,
                )
        self.ensure_server_venv()
        self.ensure_opensearch()
        if run_as == "user":
            self.ensure_system_user()
        return java_home

    def apt_install(self, *packages: str) -> None:
        listed = " ".join(packages)
        if os.geteuid() != 0:
            raise LauncherError(
                f"missing {listed}: install it (e.g. sudo apt-get install -y {listed}) or run as root"
            )
        if shutil.which("apt-get") is None:
            raise LauncherError(f"missing {listed} and there is no apt-get to install it with")
        self.progress.say(f"installing Debian packages: {listed}")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not self._apt_updated:
            run_logged(
                ["apt-get", "update", "-q"],
                log_path=self.paths.install_log,
                timeout_seconds=APT_TIMEOUT_SECONDS,
                failure="apt-get update failed",
                environment=environment,
            )
            self._apt_updated = True
        run_logged(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
            log_path=self.paths.install_log,
            timeout_seconds=APT_TIMEOUT_SECONDS,
            failure=f"apt-get install {listed} failed",
            environment=environment,
        )

    def ensure_server_venv(self) -> None:
        """argilla-server in its own venv under the state dir, never the project's."""
        if server_venv_ready(self.paths):
            return
        python = self.settings.server_python
        if shutil.which(python) is None:
            raise LauncherError(f"{python} not found; set ARGILLA_LOCAL_PYTHON to a Python >= 3.9")
        version_check = subprocess.run(
            [python, "-c", "import sys; sys.exit(sys.version_info < (3, 9))"], timeout=60
        )
        if version_check.returncode != 0:
            raise LauncherError(f"{python} is older than 3.9; set ARGILLA_LOCAL_PYTHON")
        venv = self.paths.venv
        self.progress.say(
            f"creating the server venv in {venv} (pip install {' '.join(SERVER_REQUIREMENTS)})"
        )
        shutil.rmtree(venv, ignore_errors=True)
        create_venv = [python, "-m", "venv", str(venv)]
        try:
            run_logged(
                create_venv,
                log_path=self.paths.install_log,
                timeout_seconds=VENV_TIMEOUT_SECONDS,
                failure=f"{python} -m venv failed",
            )
        except LauncherError:
            # Debian's python3 has no ensurepip until python3-venv is installed.
            shutil.rmtree(venv, ignore_errors=True)
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                raise
            self.apt_install("python3-venv")
            run_logged(
                create_venv,
                log_path=self.paths.install_log,
                timeout_seconds=VENV_TIMEOUT_SECONDS,
                failure=f"{python} -m venv failed",
            )
        run_logged(
            [
                str(self.paths.venv_python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                *SERVER_REQUIREMENTS,
            ],
            log_path=self.paths.install_log,
            timeout_seconds=PIP_TIMEOUT_SECONDS,
            failure=f"pip install {' '.join(SERVER_REQUIREMENTS)} failed",
        )
        write_stamp(self.paths.venv_stamp, venv_fingerprint())

    def ensure_opensearch(self) -> None:
        if self.paths.opensearch_ready.exists():
            return
        self.fetch_opensearch_artifacts()
        self.assemble_opensearch()

    def fetch_opensearch_artifacts(self) -> None:
        """The Maven artifacts, kept in downloads/ so that a reassembly needs no network."""
        paths = self.paths
        if paths.artifacts_complete.exists():
            return
        if shutil.which("mvn") is None:
            self.apt_install("maven")
        self.progress.say(
            f"downloading OpenSearch {OPENSEARCH_VERSION}, k-NN and lang-painless from Maven Central"
        )
        partial = paths.artifacts.with_name(paths.artifacts.name + ".partial")
        shutil.rmtree(paths.artifacts, ignore_errors=True)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "pom.xml").write_bytes(resource_bytes("pom.xml"))
        run_logged(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                "pom.xml",
                "dependency:copy-dependencies",
                # A private local repository keeps ~/.m2 untouched; dropped once copied.
                f"-Dmaven.repo.local={paths.maven_repository}",
                "-DexcludeTransitive=true",
                "-DoutputDirectory=.",
                f"-Dopensearch.version={OPENSEARCH_VERSION}",
                f"-Dknn.version={KNN_VERSION}",
            ],
            log_path=paths.install_log,
            timeout_seconds=MAVEN_TIMEOUT_SECONDS,
            failure="mvn could not fetch the OpenSearch artifacts",
            working_dir=partial,
        )
        (partial / "pom.xml").unlink()
        shutil.rmtree(paths.maven_repository, ignore_errors=True)
        (partial / ".complete").touch()
        partial.rename(paths.artifacts)

    def assemble_opensearch(self) -> None:
        paths = self.paths
        home = paths.opensearch_home
        self.progress.say(f"assembling OpenSearch in {home}")
        unpack = paths.opensearch_root / "unpack"
        shutil.rmtree(unpack, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        unpack.mkdir(parents=True)
        try:
            extract_zip(paths.artifacts / f"opensearch-{OPENSEARCH_VERSION}.zip", unpack)
        except (OSError, zipfile.BadZipFile) as error:
            raise LauncherError(f"cannot unpack the OpenSearch zip: {error}") from error
        (unpack / f"opensearch-{OPENSEARCH_VERSION}").rename(home)
        shutil.rmtree(unpack)
        for script in (home / "bin").iterdir():
            script.chmod(0o755)

        # Maven Central has lang-painless's jar and its dependencies, not the module zip; a
        # module directory is just those jars plus a descriptor and a security policy.
        painless = home / "modules" / "lang-painless"
        painless.mkdir(parents=True, exist_ok=True)
        for jar in sorted(paths.artifacts.glob("*.jar")):
            shutil.copy2(jar, painless / jar.name)
        (painless / "plugin-descriptor.properties").write_text(PAINLESS_DESCRIPTOR)
        (painless / "plugin-security.policy").write_text(PAINLESS_POLICY)

        knn = home / "plugins" / "opensearch-knn"
        knn.mkdir(parents=True, exist_ok=True)
        try:
            extract_zip(paths.artifacts / f"opensearch-knn-{KNN_VERSION}.zip", knn)
        except (OSError, zipfile.BadZipFile) as error:
            raise LauncherError(f"cannot unpack the k-NN plugin: {error}") from error
        paths.opensearch_ready.touch()

    def ensure_system_user(self) -> None:
        if system_user_exists():
            return
        self.progress.say(f"creating the system user {OPENSEARCH_SYSTEM_USER}")
        run_logged(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                OPENSEARCH_SYSTEM_USER,
            ],
            log_path=self.paths.install_log,
            timeout_seconds=60,
            failure=f"cannot create system user {OPENSEARCH_SYSTEM_USER}",
        )
