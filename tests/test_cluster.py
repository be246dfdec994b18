"""Three `rolwijzer-server` replicas behind a real L7 load balancer: Debian's nginx with grpc_pass, on 127.0.0.1.

gRPC sends every call of a client over one HTTP/2 connection, so only a balancer that reads the HTTP/2 streams can
spread calls over replicas; nginx does, per call, round robin. What it shows:
  (a) the calls of one client (one connection to nginx) reach all three replicas;
  (b) SIGKILL of one replica under load fails at most the calls that were in flight at that moment: calls nginx
      then sends there meet a refused connection, which `grpc_next_upstream error` passes to the next replica;
  (c) nginx open source has no active health checks: a broken call counts as a failure (max_fails=1), so it leaves
      the dead replica out for fail_timeout (then would try it again with one call): no attempt after that moment;
  (d) another replica stopped the way Kubernetes stops a pod (out of the balancer, then SIGTERM: the drain) under
      load fails no call at all, and exits 0.
Skipped only where nginx is not installed (.ci/run installs it). The last test needs no nginx: one server started
as the Kubernetes Deployment starts it, TLS on the gRPC port and the probes' plaintext health port beside it.
"""

from __future__ import annotations

import datetime as dt
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from certs import Authority
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rolwijzer.rules import RuleSet
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc
from support import CHEAP_FACTS, health_status, request, stop_process

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run does)")

BIN = Path(sys.executable).parent
REPLICAS = 3
CALLERS = 4  # calls in flight at any moment: each caller waits for its answer before the next call
FAIL_TIMEOUT_SECONDS = 10  # nginx's default; longer than the rest of the test, so (c) sees one turn-out window
START_SECONDS = 60
SERVING = health_pb2.HealthCheckResponse.SERVING


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition: Callable[[], bool], what: str, seconds: float = START_SECONDS) -> None:
    """Poll `condition` until true; a sleep loop, as timed waits never end under faketime."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.05)


@dataclass
class Replica:
    """One server process; its stderr (JSON lines, one `decision_made` per decision) tells its decisions apart."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def decisions(self) -> int:
        lines = self.log.read_text().splitlines()
        # A line being written as the log is read is not JSON yet: it counts at the next look.
        return sum(1 for line in lines if line.startswith("{") and _event(line) == "decision_made")


def _event(line: str) -> object:
    try:
        return json.loads(line).get("event")
    except ValueError:
        return None


def _nginx_conf(folder: Path, port: int, upstreams: list[int], down: Collection[int] = ()) -> Path:
    """A config with every path inside `folder`, run in the foreground as the current user; the replicas on the
    ports in `down` are taken out of the balancing (`down`), as an operator does before stopping one."""
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir(exist_ok=True)
    # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's private temporary folders:
    # keep them as the current user (the directive is ignored, with a warning, when not run as root).
    user = (
        f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};" if os.geteuid() == 0 else ""
    )
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s{' down' if p in down else ''};"
        for p in upstreams
    )
    conf = folder / "nginx.conf"
    conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream rolwijzer {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{
            grpc_pass grpc://rolwijzer;
            # A refused or failed connection (error) or no connection within 1 s (timeout): try the next replica.
            # nginx 1.22 knows no gRPC status here ("unavailable" is not a value): a replica's UNAVAILABLE is an
            # HTTP 200 with a grpc-status trailer, passed on to the client as it is.
            grpc_next_upstream error timeout;
            grpc_next_upstream_tries {REPLICAS};
            grpc_connect_timeout 1s;
            grpc_read_timeout 30s;
        }}
    }}
}}
""")
    return conf


@dataclass
class Cluster:
    address: str
    replicas: list[Replica]
    nginx_error_log: Path
    nginx: subprocess.Popen[bytes]
    port: int

    def take_out(self, *replicas: Replica) -> None:
        """Mark `replicas` down and reload nginx (SIGHUP): new workers use the new config, the old ones finish
        their calls and send their clients GOAWAY, so gRPC clients move to the new ones without failing a call."""
        folder = self.nginx_error_log.parent
        _nginx_conf(folder, self.port, [r.port for r in self.replicas], {r.port for r in replicas})
        started = self.nginx_error_log.read_text().count("start worker process")
        self.nginx.send_signal(signal.SIGHUP)
        _wait(lambda: self.nginx_error_log.read_text().count("start worker process") > started, "nginx reloaded", 10)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Three replicas on free loopback ports and nginx in front; everything stopped afterwards, bounded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLWIJZER_")}
    env["PYTHONUNBUFFERED"] = "1"
    replicas: list[Replica] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        for index in range(REPLICAS):
            port, log = _free_port(), tmp_path / f"replica-{index}.log"
            with open(log, "wb") as output:
                process = subprocess.Popen(
                    # No HTTP port: the replicas would all ask for the default 8080 (tests/test_connect.py has it).
                    [
                        str(BIN / "rolwijzer-server"),
                        "--address",
                        f"127.0.0.1:{port}",
                        "--cache-size",
                        "0",
                        "--http-address",
                        "0",
                        "--drain-seconds",
                        "1",
                    ],
                    stderr=output,
                    env=env,
                    cwd=tmp_path,
                )
            replicas.append(Replica(port, log, process))
        for replica in replicas:
            address = f"127.0.0.1:{replica.port}"
            _wait(lambda: health_status(address) == SERVING, f"replica {address} SERVING")  # noqa: B023 - used at once
        port, folder = _free_port(), tmp_path / "nginx"
        folder.mkdir()
        conf = _nginx_conf(folder, port, [r.port for r in replicas])
        assert NGINX is not None
        with open(folder / "stderr.log", "wb") as output:
            nginx = subprocess.Popen(
                [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
        address = f"127.0.0.1:{port}"
        running = nginx
        _wait(lambda: running.poll() is not None or health_status(address) == SERVING, "nginx answering")
        assert nginx.poll() is None, (folder / "error.log").read_text() + (folder / "stderr.log").read_text()
        yield Cluster(address, replicas, folder / "error.log", nginx, port)
    finally:
        if nginx is not None:
            stop_process(nginx, signal.SIGQUIT)
        for replica in replicas:
            stop_process(replica.process, signal.SIGKILL)


@dataclass
class Load:
    """CALLERS threads calling Evaluate through nginx until `stop_at`; every outcome kept with its time."""

    address: str
    rule_set: RuleSet
    stop_at: float
    answered: list[float] = field(default_factory=list)
    failed: list[tuple[float, grpc.StatusCode]] = field(default_factory=list)

    def run(self) -> None:
        payload = request(self.rule_set, CHEAP_FACTS)
        lock = threading.Lock()
        with grpc.insecure_channel(self.address) as channel:  # one client, one HTTP/2 connection to nginx
            evaluate = pb_grpc.RolwijzerServiceStub(channel).Evaluate

            def caller() -> None:
                while time.monotonic() < self.stop_at:
                    try:
                        evaluate(payload, timeout=10)
                        with lock:
                            self.answered.append(time.monotonic())
                    except grpc.RpcError as err:
                        with lock:
                            self.failed.append((time.monotonic(), err.code()))

            threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()  # each ends by itself: at stop_at, or 10 s later at the latest (the call's deadline)


@needs_nginx
def test_three_replicas_behind_nginx_share_calls_and_survive_a_kill_and_a_drain(
    cluster: Cluster, rule_set: RuleSet
) -> None:
    replicas = cluster.replicas
    started = time.monotonic()
    load = Load(cluster.address, rule_set, stop_at=started + 10)
    loader = threading.Thread(target=load.run)
    loader.start()
    try:
        # (a) Two seconds of calls over one connection to nginx: each replica decides some of them.
        time.sleep(2)
        before_kill = [r.decisions() for r in replicas]
        assert all(count > 0 for count in before_kill), before_kill

        # (b) SIGKILL the first replica in the middle of the load.
        killed_at = time.monotonic()
        replicas[0].process.send_signal(signal.SIGKILL)
        _wait(lambda: replicas[0].process.poll() is not None, "the killed replica gone", 10)
        time.sleep(3)

        # (d) Stop the second as Kubernetes does: out of the balancer first (there: readiness and the EndpointSlice,
        # during preStop), then SIGTERM: health NOT_SERVING, 1 s more of answers, then refused (GOAWAY), exit 0.
        # The dead one is marked down too, as an operator would: the new workers know nothing of its failure.
        cluster.take_out(replicas[0], replicas[1])
        drained_at = time.monotonic()
        assert stop_process(replicas[1].process, signal.SIGTERM) == 0
        drained_by = time.monotonic()
        after_drain = replicas[2].decisions()
    finally:
        loader.join()  # ends at stop_at by itself

    total = len(load.answered) + len(load.failed)
    print(
        f"\ncalls: {total}, answered {len(load.answered)}, failed {len(load.failed)} {load.failed}; decisions per "
        f"replica before the kill {before_kill}, at the end {[r.decisions() for r in replicas]}"
    )
    # (b) At most the calls in flight when the replica died can fail: each caller has one call in flight, and
    # nginx sent it to the killed replica or not. Those fail UNAVAILABLE (nginx answers 502 for a reset upstream),
    # all within moments of the kill; nothing fails later.
    assert len(load.failed) <= CALLERS, load.failed
    assert all(code == grpc.StatusCode.UNAVAILABLE for _, code in load.failed), load.failed
    assert all(killed_at - 0.1 <= at <= killed_at + 2 for at, _ in load.failed), (killed_at, load.failed)
    assert len(load.answered) > 200, "the load was too thin to show anything"

    # (c) Passive health: a broken call marks the replica failed (max_fails=1, "temporarily disabled") and nginx
    # sends it nothing for fail_timeout (10 s, beyond the test's end). Calls that chose it in the same moment meet
    # a refused connection and pass to the next replica. So every line about it falls within one second (nginx's
    # log has whole seconds), however many calls follow over the next seconds.
    log = cluster.nginx_error_log.read_text().splitlines()
    killed, drained = (f"127.0.0.1:{r.port}" for r in replicas[:2])
    about_killed = [line for line in log if killed in line and ("[error]" in line or "[warn]" in line)]
    refused = [line for line in about_killed if "connect() failed" in line]
    seconds = {dt.datetime.strptime(line[:19], "%Y/%m/%d %H:%M:%S") for line in about_killed}
    after_kill = sum(1 for at in load.answered if at > killed_at + 2)
    print(
        f"nginx on the killed replica: {len(about_killed)} lines ({len(refused)} refused connections passed on), "
        f"all within {(max(seconds) - min(seconds)).total_seconds():g} s; calls answered from 2 s after the kill: "
        f"{after_kill}"
    )
    assert any("temporarily disabled" in line for line in about_killed), log
    assert len(refused) <= CALLERS and max(seconds) - min(seconds) <= dt.timedelta(seconds=1), about_killed
    assert after_kill > 100

    # (d) Neither the reload nor the drain failed a call (none failed after the kill's moment, above); nginx tried
    # the drained replica no more, and the last replica took over.
    assert not [line for line in log if drained in line and "[error]" in line], log
    assert drained_by - drained_at < 10
    assert replicas[2].decisions() > after_drain


def test_as_the_deployment_runs_it_the_probes_port_follows_the_drain(rule_set: RuleSet, tmp_path: Path) -> None:
    """TLS on the gRPC port, which a plaintext probe (the kubelet's) cannot use; --health-address answers it in
    plaintext, Check only; on SIGTERM it says NOT_SERVING at once (readiness fails) while the TLS port still
    answers for the notice second; exit 0."""
    authority = Authority(tmp_path, "ca")
    server_pem = authority.issue("server", server=True)
    address, health_address = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLWIJZER_")}
    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                str(BIN / "rolwijzer-server"),
                f"--address={address}",
                f"--tls-cert={server_pem.certificate}",
                f"--tls-key={server_pem.private_key}",
                f"--health-address={health_address}",
                "--http-address=0",
            ],
            stderr=output,
            env=dict(env, PYTHONUNBUFFERED="1"),
        )
    try:
        _wait(lambda: process.poll() is not None or health_status(health_address) == SERVING, "health port SERVING")
        assert process.poll() is None, log.read_text()
        assert health_status(address) is None  # plaintext, as the kubelet probes, gets no answer from the TLS port
        with grpc.insecure_channel(health_address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=5)
            with pytest.raises(grpc.RpcError) as refused:
                next(iter(watch))
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        credentials = grpc.ssl_channel_credentials(authority.pem.certificate.read_bytes())
        with grpc.secure_channel(address, credentials) as channel:
            evaluate = pb_grpc.RolwijzerServiceStub(channel).Evaluate
            evaluate(request(rule_set, CHEAP_FACTS), timeout=10)
            process.send_signal(signal.SIGTERM)
            _wait(lambda: health_status(health_address) != SERVING, "NOT_SERVING after SIGTERM", 1)
            assert health_status(health_address) == health_pb2.HealthCheckResponse.NOT_SERVING
            evaluate(request(rule_set, CHEAP_FACTS), timeout=10)  # within the 1 s notice: still answered
    finally:
        code = stop_process(process)
    assert code == 0, log.read_text()
