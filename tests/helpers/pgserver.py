"""A throw-away PostgreSQL server started from the machine's PostgreSQL 15 binaries.

PostgreSQL refuses to run as root and CI runs as root: the data folder is then
handed to the ``postgres`` user and ``initdb`` / ``pg_ctl`` run under
``runuser -u postgres``. As any other user they run directly. Used by the
integration tests (tests/integration/conftest.py) and by bench/sync.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path(os.environ.get("POS_RETURNS_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be started (the tests fail, never skip)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    """``initdb`` in a temp folder, ``pg_ctl start`` on a free port, ``stop`` at the end."""

    def __init__(self, *, port: int | None = None, bin_dir: Path = PG_BIN,
                 settings: dict[str, str] | None = None) -> None:
        self.bin_dir = bin_dir
        # server settings over the defaults below (bench/chain.py: more connections)
        self.settings = {"fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off", "max_connections": "60",
                         "shared_buffers": "128MB", **(settings or {})}
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="alamara-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.logfile = self.root / "postgres.log"
        self.as_root = os.geteuid() == 0
        self.running = False
        self.watchdog: subprocess.Popen[bytes] | None = None

    # -- helpers ---------------------------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        exe = str(self.bin_dir / args[0])
        if self.as_root:
            return ["runuser", "-u", "postgres", "--", exe, *args[1:]]
        return [exe, *args[1:]]

    def _run(self, *args: str, timeout: float = 120) -> None:
        try:
            proc = subprocess.run(
                self._cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{args[0]} failed: {exc}") from exc
        if proc.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} exited {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}\n{log}"
            )

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    # -- life cycle ------------------------------------------------------------
    def init(self) -> None:
        if not (self.bin_dir / "initdb").exists():
            raise PostgresUnavailable(
                f"PostgreSQL 15 binaries not found in {self.bin_dir} "
                "(run tools/system-deps.sh as root to install postgresql-15)"
            )
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("runuser is missing (util-linux)")
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
            os.chmod(self.root, 0o755)
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 " + " ".join(
            f"-c {key}={value}" for key, value in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.logfile), "-w",
                  "-t", "60", "start")
        self.running = True
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        """A tiny shell process that stops this server and removes its folder if the
        process that started it dies without cleaning up (kill -9, a CI time-out)."""
        if self.watchdog is not None and self.watchdog.poll() is None:
            return
        stop = " ".join(shlex.quote(a) for a in self._cmd(
            "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"))
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 2; done; "
            f"{stop} >/dev/null 2>&1; rm -rf {shlex.quote(str(self.root))}"
        )
        self.watchdog = subprocess.Popen(
            ["sh", "-c", script], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.watchdog is not None and self.watchdog.poll() is None:
                self.watchdog.kill()  # the watchdog this object started
                self.watchdog.wait()

    def __enter__(self) -> LocalPostgres:
        try:
            self.init()
            self.start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
