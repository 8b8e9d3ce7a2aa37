"""Unit tests, run by the build (a shell step in default.json)."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import app


class GreetingTest(unittest.TestCase):
    def test_default_greeting(self) -> None:
        self.assertEqual(app.greeting(None), "Hello, world!")

    def test_named_greeting(self) -> None:
        self.assertEqual(app.greeting("buildplat"), "Hello, buildplat!")


if __name__ == "__main__":
    unittest.main()
