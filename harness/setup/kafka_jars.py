"""The Kafka broker: its jars assembled by Maven, plus a log4j2 config for stdout."""

from __future__ import annotations

from pathlib import Path

from harness.setup.binaries import KAFKA_VERSION, kafka_dir
from harness.setup.commands import SetupError, run
from harness.setup.staging import staged_dir

LOG4J_VERSION = "2.24.3"  # the log4j-core version kafka_2.13 depends on

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>failmodel</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <!-- Kafka logs through SLF4J 1.7; without a binding the broker is silent. -->
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

# INFO to stdout, with the loggers that repeat themselves on every request,
# partition change or config dump turned down to WARN.
QUIET_LOGGERS = [
    "kafka.request.logger",
    "kafka.network.RequestChannel$",
    "kafka.controller",
    "kafka.log.LogCleaner",
    "state.change.logger",
    "kafka.authorizer.logger",
    "org.apache.kafka.common.config.AbstractConfig",
    "org.apache.kafka.raft",
    "org.apache.kafka.controller",
    "org.apache.kafka.storage.internals",
    "org.apache.kafka.metadata",
    "org.apache.kafka.image",
]
LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
{quiet}
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
""".format(quiet="\n".join(f'    <Logger name="{name}" level="WARN"/>' for name in QUIET_LOGGERS))


def install_kafka(cache: Path, *, mvn: Path) -> Path:
    """Copy the broker's runtime jars into the cache (Maven's repository lives there too)."""
    with staged_dir(kafka_dir(cache)) as staging:
        (staging / "pom.xml").write_text(POM)
        run(
            [
                str(mvn), "-B", "-q", "-f", str(staging / "pom.xml"),
                f"-Dmaven.repo.local={cache / 'maven-repo'}",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging / 'libs'}",
            ],
            what=f"assembling Kafka {KAFKA_VERSION} with Maven",
            cwd=staging,
        )
        jars = {jar.name for jar in (staging / "libs").glob("*.jar")}
        for expected in (f"kafka_2.13-{KAFKA_VERSION}.jar", f"log4j-core-{LOG4J_VERSION}.jar"):
            if expected not in jars:
                found = sorted(j for j in jars if j.startswith(expected.split("-")[0]))
                raise SetupError(
                    f"Maven did not produce {expected} (found {found}); "
                    "update KAFKA_VERSION/LOG4J_VERSION in harness/setup together"
                )
        (staging / "log4j2.xml").write_text(LOG4J2_XML)
    return kafka_dir(cache) / "libs"
