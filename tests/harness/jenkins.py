"""Placeholder: the jenkins component of the test harness (fixtures for it are defined here)."""
