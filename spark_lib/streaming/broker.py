"""The project's own Kafka broker: Apache Kafka 4.1 in KRaft mode, one node that is broker and controller.

It runs in its own JVM from the jars ``make setup`` fetched into ``.jars/kafka/`` (never downloaded here), listens
on 127.0.0.1 only, and keeps everything in one folder (pipeline.yaml ``kafka.broker_dir`` by default)::

    <dir>/server.properties   the broker's settings: the ports, chosen on the first start, are kept
    <dir>/log4j2.properties   its logging: warnings, and the start and stop lines
    <dir>/data/               the topics' logs and the KRaft metadata (formatted once, on the first start)
    <dir>/broker.log          what the JVM prints
    <dir>/broker.pid          the JVM's process id while it runs

A stopped broker started again on the same folder keeps its topics and messages. The controller's port is chosen
once: KRaft records it in the metadata. The client port may change from one start to the next.

Example::

    with KafkaBroker("/tmp/kafka", port=0) as broker:    # port 0: a free port
        print(broker.bootstrap_servers)                    # 127.0.0.1:40613
    broker = KafkaBroker("kafka-broker", port=9092)
    broker.start(); broker.status(); broker.stop()
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from spark_lib.session import DEFAULT_JARS_DIR

HOST = "127.0.0.1"
#: the client port when neither the caller nor an earlier start chose one
DEFAULT_PORT = 9092
#: the JVM's heap: a local broker with a few topics needs far less than Kafka's default of 1 GB
JVM_OPTIONS = ("-Xmx512m", "-Djava.awt.headless=true")

LOG4J2 = """\
# Written by rcu kafka start: warnings, and the broker's start and stop lines
status = warn
# the broker logs while it shuts down (its own shutdown hook): log4j must not stop first
shutdownHook = disable
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


class BrokerError(RuntimeError):
    """The broker cannot be started or stopped; the message says why and where its log is."""


@dataclass(frozen=True)
class BrokerStatus:
    """What :meth:`KafkaBroker.status` finds: ``pid`` is None when no broker of this folder runs."""

    pid: int | None
    bootstrap_servers: str | None

    @property
    def running(self) -> bool:
        return self.pid is not None


def broker_jars() -> Path:
    """The folder of the broker's jars (``.jars/kafka``; ``RCU_JARS_DIR`` overrides ``.jars``), or an error
    saying to run ``make setup``."""
    folder = Path(os.environ.get("RCU_JARS_DIR") or DEFAULT_JARS_DIR) / "kafka"
    if not list(folder.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"no Kafka broker jar in {folder}: run `make setup` to fetch it from Maven Central")
    return folder


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on ``port`` of 127.0.0.1."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """The settings of a single-node KRaft broker on 127.0.0.1, everything replicated once."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        # one node: the internal topics cannot have more than one replica
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # a consumer group of one member need not wait 3 s for others to join
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def read_properties(path: Path) -> dict[str, str]:
    """``key=value`` lines of a Java properties file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def listener_ports(properties: dict[str, str]) -> tuple[int, int]:
    """The (client, controller) ports of a ``server.properties`` written by :func:`server_properties`."""
    ports = dict(item.split("://") for item in properties["listeners"].split(","))
    return int(ports["PLAINTEXT"].rsplit(":", 1)[1]), int(ports["CONTROLLER"].rsplit(":", 1)[1])


def cluster_id() -> str:
    """A new cluster id, as Kafka writes them: 16 random bytes in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def java() -> str:
    """The ``java`` to run the broker with: ``$JAVA_HOME/bin/java``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not Path(found).exists():
        raise BrokerError("no java found (JAVA_HOME or PATH): the Kafka broker needs Java 17 or later")
    return found


class KafkaBroker:
    """One local broker and its folder; start, stop and status work across processes (through the pid file).

    ``port``: the client port (0: a free one); None keeps the port of the previous start, else
    :data:`DEFAULT_PORT`. ``start_timeout``: seconds to wait for the broker to answer."""

    def __init__(self, directory: str | os.PathLike, port: int | None = None, start_timeout: float = 90.0):
        if port is not None and not 0 <= port < 65536:
            raise ValueError(f"'port' must be between 0 and 65535, got {port!r}")
        self.directory = Path(directory).resolve()
        self.port = port
        self.start_timeout = start_timeout

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "broker.pid"

    @property
    def client_port(self) -> int:
        """The client port of the settings in the folder (written by :meth:`start`)."""
        return listener_ports(read_properties(self.properties_file))[0]

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<client port>``."""
        return f"{HOST}:{self.client_port}"

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def status(self) -> BrokerStatus:
        """Whether this folder's broker runs: its pid file names a live JVM started on this folder."""
        pid = self._running_pid()
        return BrokerStatus(pid, self.bootstrap_servers if pid else None)

    def start(self) -> str:
        """Start the broker (formatting its storage on the first start) and wait until it answers; returns its
        bootstrap address. A broker of this folder that already runs is left as it is."""
        if self.status().running:
            if self.port not in (None, 0, self.client_port):
                raise BrokerError(f"the broker of {self.directory} already runs on port {self.client_port}: stop it first")
            return self.bootstrap_servers
        jars = broker_jars()
        self.directory.mkdir(parents=True, exist_ok=True)
        port, controller_port = self._ports()
        if port_open(port):
            raise BrokerError(f"port {port} of {HOST} is taken by another program: choose another (--port)")
        if port_open(controller_port):
            raise BrokerError(f"the controller port {controller_port} of {HOST}, kept in {self.properties_file} "
                              "since the first start, is taken by another program")
        self.properties_file.write_text(server_properties(self.data_dir, port, controller_port))
        (self.directory / "log4j2.properties").write_text(LOG4J2)
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(jars)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self._java_command(jars, "kafka.Kafka", str(self.properties_file)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,   # outlives `rcu kafka start`, untouched by its Ctrl-C
            )
        self.pid_file.write_text(f"{process.pid}\n")
        try:
            self.wait_until_ready(process)
        except BrokerError:
            self.stop()   # a broker that does not answer is of no use: leave no JVM behind
            raise
        return self.bootstrap_servers

    def wait_until_ready(self, process: subprocess.Popen | None = None, timeout: float | None = None) -> None:
        """Wait until the broker serves metadata requests, or raise :class:`BrokerError` when it exits or
        ``timeout`` (default: ``start_timeout``) seconds pass."""
        from spark_lib.streaming.kafka_client import broker_answers

        deadline = time.monotonic() + (timeout or self.start_timeout)
        port = self.client_port
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"the Kafka broker exited with code {process.returncode} while starting: "
                                  f"see {self.log_file}")
            if port_open(port) and broker_answers(self.bootstrap_servers):
                return
            time.sleep(0.2)
        raise BrokerError(f"the Kafka broker did not answer on {self.bootstrap_servers} within "
                          f"{timeout or self.start_timeout:.0f} s: see {self.log_file}")

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the broker cleanly (SIGTERM: it closes its logs and leaves the quorum); after ``timeout``
        seconds, kill it. Returns whether a broker was running."""
        pid = self._running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _running_pid(self) -> int | None:
        """The pid of the pid file when it is a live process started on this folder's settings (a pid of a
        dead broker may have been given to another process since)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            running = _alive(pid) and str(self.properties_file) in psutil.Process(pid).cmdline()
        except (FileNotFoundError, ValueError, psutil.Error):
            return None
        return pid if running else None

    def _ports(self) -> tuple[int, int]:
        """The (client, controller) ports of the next start: the client port asked for (0: a free one; None:
        the previous start's, else :data:`DEFAULT_PORT`), the controller's of the first start."""
        earlier = read_properties(self.properties_file) if self.properties_file.exists() else None
        earlier_port, controller_port = listener_ports(earlier) if earlier else (DEFAULT_PORT, free_port())
        port = self.port if self.port is not None else earlier_port
        while port in (0, controller_port) and self.port == 0:
            port = free_port()
        if port == controller_port:
            raise BrokerError(f"port {port} is the controller's port of {self.directory}: choose another (--port)")
        return port, controller_port

    def _java_command(self, jars: Path, main_class: str, *arguments: str) -> list[str]:
        """The command that runs ``main_class`` of the broker's jars with this folder's logging settings."""
        return [java(), *JVM_OPTIONS, f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
                "-cp", str(jars / "*"), main_class, *arguments]

    def _format_storage(self, jars: Path) -> None:
        """Format the data folder for a new single-node cluster (``kafka-storage format --standalone``)."""
        result = subprocess.run(
            # "--cluster-id=<id>": an id may start with "-" (base64), which the tool would take for an option
            self._java_command(jars, "kafka.tools.StorageTool", "format", "--standalone",
                               f"--cluster-id={cluster_id()}", "--config", str(self.properties_file)),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise BrokerError(f"formatting the Kafka storage in {self.data_dir} failed: "
                              f"{(result.stderr or result.stdout).strip()[-2000:]}")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie, not yet reaped by its parent, has)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
