"""Placeholder: the hubot component of the test harness (fixtures for it are defined here)."""
