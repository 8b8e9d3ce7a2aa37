"""System test, run by `buildplat step verify` against the deployed service.

SERVICE_URL points at the service; a JUnit report goes to $JUNIT_DIR when it is set.
"""

from __future__ import annotations

import os
import sys
import unittest
import urllib.request


class DeployedServiceTest(unittest.TestCase):
    base = os.environ.get("SERVICE_URL", "http://127.0.0.1:8080").rstrip("/")

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return response.status, response.read().decode()

    def test_health(self) -> None:
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))

    def test_greeting(self) -> None:
        status, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertIn("Hello", body)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
