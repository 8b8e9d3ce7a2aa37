"""Placeholder: the registry component of the test harness (fixtures for it are defined here)."""
