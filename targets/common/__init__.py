"""Shared plumbing for the reference targets: config, CLI, HTTP, PostgreSQL, Kafka, partner.

Each target keeps only its business logic; everything that would otherwise be copied
between targets (start-up, validation, outbox relay, consumer loop) lives here.
"""
