"""Placeholder: the docker component of the test harness (fixtures for it are defined here)."""
