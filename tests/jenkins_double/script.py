"""The script console (``POST /scriptText``, Overall/Administer), without a Groovy interpreter.

Every script is recorded. Jenkins answers with what the script printed, then ``Result: <value>`` if the last
statement's value is not null (RemotingDiagnostics). The double understands only a few statements:

- ``print``/``println`` of a string literal (``print("x")``, ``println 'x'``) print it (value null);
- ``Jenkins.instance.updateCenter.isRestartRequiredForCompletion()`` is true when a plugin upgrade waits;
- ``Jenkins.instance.updateCenter.getPlugin("x")...deploy()`` deploys x from the update center (its
  ``getNeededDependencies().each{it.deploy()}`` form too); for an unknown plugin Groovy's NullPointerException is
  printed and the script stops, as in Jenkins.

Tests teach it more with ``answer(pattern, output)``: a statement in which the pattern is found prints ``output``
(a string, or a function of the statement) and has the value null; the first matching pattern wins. Any other
statement is recorded in ``ScriptRun.unknown`` and does nothing (value null).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.jenkins_double.plugins import PluginManager

_PRINT = re.compile(r"""(println|print)\s*\(?\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)?""", re.DOTALL)
_RESTART = re.compile(r"Jenkins\.(?:instance|get\(\))\.updateCenter\.isRestartRequiredForCompletion\(\)")
_DEPLOY = re.compile(
    r"""Jenkins\.(?:instance|get\(\))\.updateCenter\.getPlugin\(\s*["']([^"']+)["']\s*\)\.(.*)""", re.DOTALL
)


@dataclass
class ScriptRun:
    script: str
    user: str | None
    output: str
    unknown: list[str] = field(default_factory=list)


def split_statements(script: str) -> list[str]:
    """Split on newlines and ``;`` outside string literals, brackets and closures."""
    statements: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in script:
        if quote:
            quote = "" if ch == quote and (not current or current[-1] != "\\") else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch in ";\n" and depth == 0:
            statements.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    statements.append("".join(current).strip())
    return [statement for statement in statements if statement]


@dataclass
class ScriptConsole:
    plugins: PluginManager
    runs: list[ScriptRun] = field(default_factory=list)
    answers: list[tuple[re.Pattern[str], str | Callable[[str], str]]] = field(default_factory=list)

    def answer(self, pattern: str | re.Pattern[str], output: str | Callable[[str], str]) -> None:
        self.answers.append((re.compile(pattern) if isinstance(pattern, str) else pattern, output))

    def run(self, script: str, user: str | None) -> str:
        run = ScriptRun(script, user, "")
        out: list[str] = []
        value: object = None
        for statement in split_statements(script):
            value, stop = self._statement(statement, out, run)
            if stop:
                value = None
                break
        if value is not None:
            out.append(f"Result: {str(value).lower() if isinstance(value, bool) else value}\n")
        run.output = "".join(out)
        self.runs.append(run)
        return run.output

    def _statement(self, statement: str, out: list[str], run: ScriptRun) -> tuple[object, bool]:
        for pattern, output in self.answers:
            if pattern.search(statement):
                out.append(output(statement) if callable(output) else output)
                return None, False
        printed = _PRINT.fullmatch(statement)
        if printed:
            text = printed.group(2) if printed.group(2) is not None else printed.group(3)
            out.append(text.encode("latin-1", "backslashreplace").decode("unicode_escape"))
            out.append("\n" if printed.group(1) == "println" else "")
            return None, False
        if _RESTART.fullmatch(statement):
            return bool(self.plugins.pending_restart), False
        deploy = _DEPLOY.fullmatch(statement)
        if deploy:
            name = deploy.group(1)
            if name not in self.plugins.catalog:
                method = deploy.group(2).split("(", 1)[0]
                out.append(f"java.lang.NullPointerException: Cannot invoke method {method}() on null object\n")
                return None, True
            self.plugins.deploy(name)
            return "java.util.concurrent.FutureTask@1b2c3d4e[Completed normally]", False
        run.unknown.append(statement)
        return None, False
