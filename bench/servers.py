"""The two identity servers the identity benchmark runs side by side.

- :class:`Keystone`: upstream Keystone from PyPI in its own virtualenv
  (``build/bench/keystone-venv``: ``pip install keystone uwsgi``; uwsgi
  compiles, with the Debian packages in ``bench/host-packages.txt``),
  SQLite, Fernet tokens with their own key repository, bcrypt cost 12,
  served by uwsgi with 2 worker processes. ``cached=True`` turns on
  oslo.cache with the in-process ``dogpile.cache.memory`` backend.
- :class:`Kumo`: ``kumo serve identity-api`` alone, with its own state
  directory and settings file (bcrypt cost 12, kumo's default).

Both listen on a free loopback port, never on 5000, and keep everything
under ``build/bench/identity``. ``start()`` returns once the server answers
``GET /v3``; ``stop()`` ends the processes it started (by their process
group). ``rss_mib()`` is the resident memory of all of a server's processes.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
KEYSTONE_VENV = BUILD / "keystone-venv"
HOST_PACKAGES = ROOT / "bench" / "host-packages.txt"

ADMIN_PASSWORD = "bench-admin-secret"
USER_PASSWORD = "bench-user-secret"
#: Services kumo's bootstrap registers besides identity: (type, name, port, path).
EXTRA_SERVICES = [("image", "glance", 9292, ""), ("compute", "nova", 8774, "/v2.1"),
                  ("network", "neutron", 9696, "")]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list, **kwargs) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def ensure_host_packages() -> None:
    """apt-get install what ``bench/host-packages.txt`` lists and is missing (needs root)."""
    wanted = [w for line in HOST_PACKAGES.read_text().splitlines()
              for w in line.split("#", 1)[0].split()]
    missing = [p for p in wanted if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout.find("ok installed") < 0]
    if missing:
        print(f"apt-get install {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-q"], env=env)
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


def ensure_keystone() -> None:
    """Create ``build/bench/keystone-venv`` with keystone and uwsgi unless it is there."""
    if (KEYSTONE_VENV / "bin" / "uwsgi").exists() and (KEYSTONE_VENV / "bin" / "keystone-manage").exists():
        return
    ensure_host_packages()
    print("pip install keystone uwsgi (build/bench/keystone-venv)", flush=True)
    python = shutil.which("python3") or sys.executable
    _run([python, "-m", "venv", KEYSTONE_VENV])
    _run([KEYSTONE_VENV / "bin" / "pip", "install", "-q", "--upgrade", "pip"])
    _run([KEYSTONE_VENV / "bin" / "pip", "install", "-q", "keystone", "uwsgi"])


def rss_mib(pid: int) -> float:
    """Resident memory (MiB) of ``pid`` and all its descendants."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return round(total / 1024, 1)


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (by /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its descendants (all their threads)."""
    ticks = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def set_autogroup_nice(pid: int, nice: int) -> None:
    """Give ``pid``'s session ``nice``. With the kernel's autogroup scheduling (sessions share the
    CPU fairly whatever their processes' nice), this is what gives a session priority (root)."""
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(nice))
    os.setpriority(os.PRIO_PROCESS, pid, nice)


def bcrypt_cost(db_file: Path, query: str) -> int:
    """The bcrypt cost factor of the first hash ``query`` returns from SQLite ``db_file``."""
    with sqlite3.connect(db_file) as conn:
        (hashed,) = conn.execute(query).fetchone()
    return int(hashed.split("$")[2])


class Server:
    """A server process group under ``build/bench/identity/<name>``; ``nice``: its scheduling priority."""

    name = "server"
    nice = 0

    def __init__(self, workdir: Path):
        self.dir = workdir / self.name
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, cmd: list, env: dict) -> None:
        log = open(self.dir / "server.log", "ab")
        self.proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        if self.nice:
            set_autogroup_nice(self.proc.pid, self.nice)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.dir / 'server.log'}")
            try:
                if httpx.get(f"{self.base}/v3", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer on {self.base}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid) if self.proc else 0.0

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc else 0.0


class Keystone(Server):
    """Upstream Keystone under uwsgi (2 workers); ``prepare()`` once, then ``start(cached)``."""

    name = "keystone"

    def _conf(self, cached: bool) -> Path:
        path = self.dir / ("keystone-cached.conf" if cached else "keystone.conf")
        path.write_text(f"""[DEFAULT]
log_file = {self.dir / 'keystone.log'}

[database]
connection = sqlite:///{self.dir / 'keystone.db'}

[token]
provider = fernet

[fernet_tokens]
key_repository = {self.dir / 'fernet-keys'}

[fernet_receipts]
key_repository = {self.dir / 'fernet-keys'}

[credential]
key_repository = {self.dir / 'credential-keys'}

[identity]
password_hash_algorithm = bcrypt
password_hash_rounds = 12

[cache]
enabled = {'true' if cached else 'false'}
backend = dogpile.cache.memory
""")
        return path

    def _env(self, conf: Path) -> dict:
        return {"PATH": f"{KEYSTONE_VENV / 'bin'}:/usr/bin:/bin", "HOME": str(self.dir),
                "OS_KEYSTONE_CONFIG_FILES": str(conf), "PYTHONWARNINGS": "ignore"}

    def prepare(self) -> None:
        """A fresh database and key repositories, bootstrapped like keystone's install guide."""
        ensure_keystone()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        conf = self._conf(False)
        env = self._env(conf)
        manage = [KEYSTONE_VENV / "bin" / "keystone-manage", "--config-file", conf]
        _run([*manage, "db_sync"], env=env)
        user = ["--keystone-user", "root", "--keystone-group", "root"]
        _run([*manage, "fernet_setup", *user], env=env)
        _run([*manage, "credential_setup", *user], env=env)
        _run([*manage, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
              "--bootstrap-admin-url", f"{self.base}/v3", "--bootstrap-internal-url", f"{self.base}/v3",
              "--bootstrap-public-url", f"{self.base}/v3", "--bootstrap-region-id", "RegionOne"], env=env)

    def start(self, cached: bool = False) -> None:
        conf = self._conf(cached)
        # --http-socket closes each connection after its response: the kernel's accept queue then
        # shares the 2 workers fairly between clients (a keep-alive --http11-socket worker serves one
        # client's connection until it closes, so the others wait: p99 of seconds at c=4).
        self._spawn([KEYSTONE_VENV / "bin" / "uwsgi", "--http-socket", f"127.0.0.1:{self.port}",
                     "--module", "keystone.wsgi.api:application", "--master", "--processes", "2",
                     "--threads", "1", "--lazy-apps", "--need-app", "--die-on-term", "--disable-logging",
                     "--buffer-size", "65535", "--listen", "128"], self._env(conf))

    def bcrypt_cost(self) -> int:
        return bcrypt_cost(self.dir / "keystone.db", "SELECT password_hash FROM password LIMIT 1")

    def sql_per_validate(self, cached: bool) -> dict:
        """SQL statements, connections and CPU ms of one validation, in-process (bench/keystone_sql.py)."""
        proc = subprocess.run([str(KEYSTONE_VENV / "bin" / "python"), str(ROOT / "bench" / "keystone_sql.py"),
                               str(self._conf(cached)), ADMIN_PASSWORD, USER_PASSWORD],
                              capture_output=True, text=True, env=self._env(self._conf(cached)), timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"keystone_sql.py failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


class Kumo(Server):
    """``kumo serve identity-api`` with its own state dir; ``prepare()`` runs ``kumo bootstrap``."""

    name = "kumo"

    @property
    def conf(self) -> Path:
        return self.dir / "kumo.toml"

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
        return {**env, "KUMO_CONFIG": str(self.conf)}

    def prepare(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.conf.write_text(f"""[common]
state_dir = "{self.dir / 'state'}"
bind_host = "127.0.0.1"
public_host = "127.0.0.1"
log_level = "warning"

[service_user]
password = "bench-service-secret"

[identity]
port = {self.port}
admin_port = 0
""")
        _run([sys.executable, "-m", "kumo.cli.main", "bootstrap", "--config", self.conf,
              "--admin-password", ADMIN_PASSWORD], env=self._env(), cwd=ROOT)

    def start(self, cached: bool = True) -> None:
        env = self._env()
        if not cached:
            env["KUMO_IDENTITY__CACHE_SECONDS"] = "0"
        self._spawn([sys.executable, "-m", "kumo.cli.main", "serve", "identity-api", "--config", self.conf,
                     "--log-file", self.dir / "kumo.log"], env)

    def bcrypt_cost(self) -> int:
        return bcrypt_cost(self.dir / "state" / "identity.db",
                           "SELECT password_hash FROM users WHERE name = 'admin'")


def admin_token(base: str) -> str:
    """A project-scoped (project admin) token of user admin."""
    return issue_token(base, "admin", ADMIN_PASSWORD, "admin")


def password_body(user: str, password: str, project: str) -> dict:
    """A v3 password auth request scoped to ``project`` (all in domain default)."""
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}


def issue_token(base: str, user: str, password: str, project: str) -> str:
    r = httpx.post(f"{base}/v3/auth/tokens", json=password_body(user, password, project), timeout=30)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def add_bench_user(server: Server) -> None:
    """Project ``bench``, user ``bench`` with role ``member`` on it, and on keystone the same
    catalog as kumo's bootstrap makes (identity, image, compute, network; 3 interfaces each)."""
    admin = {"X-Auth-Token": admin_token(server.base), "Connection": "close"}  # uwsgi closes anyway
    with httpx.Client(base_url=server.base, headers=admin, timeout=30) as c:
        def call(method: str, path: str, body: dict | None = None) -> dict:
            r = c.request(method, path, json=body)
            r.raise_for_status()
            return r.json() if r.content else {}

        project = call("POST", "/v3/projects", {"project": {"name": "bench", "domain_id": "default"}})["project"]
        user = call("POST", "/v3/users", {"user": {"name": "bench", "password": USER_PASSWORD,
                                                   "domain_id": "default"}})["user"]
        member = call("GET", "/v3/roles?name=member")["roles"][0]
        call("PUT", f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member['id']}")
        if isinstance(server, Keystone):
            for stype, name, port, path in EXTRA_SERVICES:
                svc = call("POST", "/v3/services", {"service": {"type": stype, "name": name}})["service"]
                for interface in ("public", "internal", "admin"):
                    call("POST", "/v3/endpoints", {"endpoint": {
                        "service_id": svc["id"], "interface": interface, "region_id": "RegionOne",
                        "url": f"http://127.0.0.1:{port}{path}"}})
