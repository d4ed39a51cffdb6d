"""Helpers that start real servers (Prometheus, Alertmanager, our binaries) on loopback.

Each module does one thing; every wait is bounded in time and every process is stopped at
teardown (SIGTERM, then SIGKILL).
"""
