"""Local backend: managed processes, the reaper, ports, the services and the `Stack`."""

from harness.provision.kafka import KafkaService
from harness.provision.ports import PortInUse, free_port, require_free
from harness.provision.postgres import PostgresService
from harness.provision.process import ManagedProcess, ServiceStartError
from harness.provision.reaper import reap_orphans
from harness.provision.redis_service import RedisService
from harness.provision.service import LocalService
from harness.provision.stack import SERVICE_NAMES, Stack
from harness.provision.toxiproxy_server import ToxiproxyServer

__all__ = [
    "SERVICE_NAMES",
    "KafkaService",
    "LocalService",
    "ManagedProcess",
    "PortInUse",
    "PostgresService",
    "RedisService",
    "ServiceStartError",
    "Stack",
    "ToxiproxyServer",
    "free_port",
    "reap_orphans",
    "require_free",
]
