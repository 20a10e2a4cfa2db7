"""A real two-node Ray cluster on one machine, one CPU per node, for tests.

Issue 13 item 4: the cluster path must be tested with more than a head node. Two ``ray start``
processes (``--block``, each in its own process group) make a head and a worker node, each with its
own raylet, object store and ``--temp-dir`` under /tmp (short: Ray's socket paths must fit 107
bytes), on free loopback ports, so a node can be killed alone. Their workers import the package of
the repository under test (``PYTHONPATH``), not an installed copy. Teardown never runs ``ray stop``
(it stops every Ray instance of the user on the machine, other tests' included): it SIGKILLs the
process groups and every process whose command line names one of the cluster's temp dirs.

Other tests use it as a fixture::

    def test_x(ray_cluster):
        subprocess.run([... "run", ..., "--address", ray_cluster.address], env=ray_cluster.env)
        ray_cluster.kill_worker_raylet()   # the second node's raylet dies; its tasks are lost
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")
OBJECT_STORE_BYTES = 200 * 1024 * 1024
START_TRIES = 3
START_TIMEOUT_S = 240  # generous: a loaded CI machine starts Ray slowly
# A lost node is noticed after period x threshold (Ray's defaults: 3 s x 5); 0.5 s x 4 keeps the test short.
FAST_FAILURE_DETECTION = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
                          "RAY_health_check_failure_threshold": "4"}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_naming(text: str) -> list[int]:
    """Pids of the processes whose command line contains ``text``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            pids.append(int(proc.name))
    return pids


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@dataclass
class RayNode:
    """One ``ray start --block`` process and the temp dir that names its daemons."""

    temp_dir: Path
    proc: subprocess.Popen
    log: Path

    def raylet_pids(self) -> list[int]:
        """The raylet of this node (its command line names the node's session under ``temp_dir``)."""
        pids = []
        for pid in processes_naming(str(self.temp_dir)):
            try:
                exe = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if exe.endswith(b"/raylet"):
                pids.append(pid)
        return pids

    def kill(self) -> None:
        """SIGKILL the node's process group and every process naming its temp dir."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        _kill(processes_naming(str(self.temp_dir)))
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


@dataclass
class RayCluster:
    """A head and a worker node on 127.0.0.1, one CPU each; ``address`` is the head's GCS."""

    address: str
    env: dict[str, str]
    nodes: list[RayNode] = field(default_factory=list)

    def kill_worker_raylet(self) -> int:
        """SIGKILL the second node's raylet (its workers die with it); returns its pid."""
        pids = self.nodes[1].raylet_pids()
        if len(pids) != 1:
            raise RuntimeError(f"expected one raylet under {self.nodes[1].temp_dir}, found {pids}")
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def worker_running(self, title: str) -> bool:
        """Whether a worker process of the second node runs ``title`` now (Ray titles it ``ray::Class.method``)."""
        raylets = set(self.nodes[1].raylet_pids())
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (proc / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid in raylets and cmdline.startswith(title.encode()):
                return True
        return False

    def ensure_two_nodes(self) -> None:
        """Replace the second node by a new one if its raylet was killed (once the cluster counts it dead)."""
        if self.nodes[1].raylet_pids():
            return
        dead = self.nodes.pop(1)
        dead.kill()
        shutil.rmtree(dead.temp_dir, ignore_errors=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.alive_nodes() > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        self.add_worker()

    def add_worker(self) -> RayNode:
        """Start another one-CPU worker node and wait until the cluster counts it."""
        node = _started(self.env, head_port=None, address=self.address)
        self.nodes.append(node)
        _wait_for_nodes(self, alive=len(self.nodes))
        return node

    def alive_nodes(self) -> int:
        """Nodes the cluster's GCS holds alive (asked from a subprocess: this process never joins Ray)."""
        code = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))")
        res = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True, env=self.env,
                             timeout=START_TIMEOUT_S)
        if res.returncode:
            raise RuntimeError(f"cannot reach the Ray cluster at {self.address}: {res.stderr[-2000:]}")
        return int(res.stdout.strip().splitlines()[-1])

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
            shutil.rmtree(node.temp_dir, ignore_errors=True)


def node_credentials() -> dict[str, str]:
    """moto's dummy keys: the driver passes the endpoint to its workers, never keys (core/storage.py's ``ray_env``)."""
    from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY

    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true"}


def _node_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AWS_"))}
    env.update(FAST_FAILURE_DETECTION)
    env.update(node_credentials())  # the nodes' own keys, as an instance role gives a real cluster's
    env["RAY_AUTH_MODE"] = "disabled"  # Ray >= 2.5x starts a head with token auth; a loopback test cluster needs none
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _start_node(env: dict[str, str], head_port: int | None, address: str | None) -> RayNode:
    """``ray start --block`` for a head (``head_port``) or a worker joining ``address``, on its own ports."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rwc", dir="/tmp"))
    ports = {flag: free_port() for flag in ("--node-manager-port", "--object-manager-port", "--metrics-export-port",
                                            "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                                            "--runtime-env-agent-port")}
    cmd = [RAY, "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
           f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
           *(f"{flag}={port}" for flag, port in ports.items())]
    if head_port is not None:
        cmd += ["--head", f"--port={head_port}", "--include-dashboard=false", f"--dashboard-port={free_port()}",
                f"--ray-client-server-port={free_port()}"]
    else:
        cmd += [f"--address={address}"]
    log = temp_dir / "ray-start.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return RayNode(temp_dir, proc, log)


def _wait_until_started(node: RayNode) -> None:
    """Wait until ``ray start`` says the node's runtime is up (cheaper than joining the cluster to ask)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"Ray runtime started" not in node.log.read_bytes():
        if node.proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {node.proc.returncode}: {node.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ray start did not start within {START_TIMEOUT_S} s: {node.log.read_text()[-3000:]}")
        time.sleep(0.2)


def _wait_for_nodes(cluster: RayCluster, alive: int) -> None:
    """Wait until every node's ``ray start`` is up and the cluster counts ``alive`` nodes."""
    for node in cluster.nodes:
        _wait_until_started(node)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if cluster.alive_nodes() >= alive:
                return
        except (RuntimeError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Ray cluster at {cluster.address} did not reach {alive} nodes in {START_TIMEOUT_S} s")
        time.sleep(0.5)


def _started(env: dict[str, str], head_port: int | None, address: str | None) -> RayNode:
    """A node whose ``ray start`` is up, tried again where it gave up (Ray waits only 30 s for a raylet to register,
    which a loaded CI machine can exceed)."""
    for attempt in range(1, START_TRIES + 1):
        node = _start_node(env, head_port, address)
        try:
            _wait_until_started(node)
            return node
        except RuntimeError:
            node.kill()
            shutil.rmtree(node.temp_dir, ignore_errors=True)
            if attempt == START_TRIES:
                raise
    raise AssertionError("unreachable")


def start_cluster() -> RayCluster:
    """Start the head, then the worker, and wait until both are alive."""
    env = _node_env()
    port = free_port()
    cluster = RayCluster(address=f"127.0.0.1:{port}", env=env)
    try:
        cluster.nodes.append(_started(env, head_port=port, address=None))  # a worker started before the head is up exits
        cluster.nodes.append(_started(env, head_port=None, address=cluster.address))
        _wait_for_nodes(cluster, alive=2)
    except BaseException:
        cluster.shutdown()
        raise
    return cluster


@pytest.fixture(scope="session")
def ray_cluster():
    """The two-node cluster, started once per session and torn down at its end (also on failure)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.shutdown()
