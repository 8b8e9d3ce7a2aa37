"""Compile generated Jenkinsfiles with Debian's ``groovy`` (Groovy 2.4.21, the Groovy Jenkins' Pipeline runs).

A declarative ``pipeline { agent …; stages { … } }`` is a Groovy script of method calls taking closures, so it
compiles as one; a syntax error does not. This checks what the Groovy compiler checks (syntax, imports and other
compile-time resolution), not Pipeline semantics: unknown steps or sections compile fine.

The JVM takes a second or more to start, so :func:`compile_jenkinsfiles` compiles any number of files in one JVM:
a small checker script compiles each file on its own (``GroovyShell.parse``, through class generation, as groovyc
does) and reports each file's errors, so one broken file neither hides the others' errors nor costs another JVM
start, which a multi-file ``groovyc`` run would (it stops at the first file that fails to parse). ``JAVA_HOME`` is
derived from the ``java`` on PATH when unset: Debian's ``groovy`` needs it and ``default-jre`` may be missing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from buildplat.proc import run

_MARK = "@@buildplat-groovy-check"
_CHECKER = f"""
import org.codehaus.groovy.control.MultipleCompilationErrorsException
def shell = new GroovyShell()
args.each {{ path ->
    def file = new File(path)
    try {{
        shell.parse(file)
        println "{_MARK} ok ${{file.name}}"
    }} catch (MultipleCompilationErrorsException e) {{
        println "{_MARK} error ${{file.name}}"
        println e.message
    }}
}}
"""


class GroovyUnavailable(RuntimeError):
    pass


class GroovyCompileError(AssertionError):
    """The Jenkinsfile does not compile; the message is the compiler's, naming the Jenkinsfile."""


def java_home() -> str:
    configured = os.environ.get("JAVA_HOME")
    if configured and Path(configured, "bin", "java").exists():
        return configured
    java = shutil.which("java")
    if java is None:
        raise GroovyUnavailable("no java on PATH (apt-get install -y groovy brings one)")
    return str(Path(java).resolve().parent.parent)


def groovy() -> str:
    path = shutil.which("groovy")
    if path is None:
        raise GroovyUnavailable("groovy is not installed (apt-get install -y groovy; scripts/install-test-deps)")
    return path


def _report(output: str, owners: Mapping[str, str]) -> dict[str, str | None]:
    """Parse the checker's output into ``name -> None | errors``, with file names mapped back to the caller's."""
    results: dict[str, str | None] = {}
    name: str | None = None  # the file whose errors are being read
    for line in output.splitlines():
        if line.startswith(_MARK + " "):
            _, verdict, file_name = line.split(" ", 2)
            name = owners[file_name] if verdict == "error" else None
            results[owners[file_name]] = "" if verdict == "error" else None
            continue
        if name is None or not line.strip() or line == "startup failed:" or re.fullmatch(r"\d+ errors?", line):
            continue
        match = re.match(r"^(?:.*/)?(Jenkinsfile_\d+\.groovy)(: .*)$", line)
        text = owners[match.group(1)] + match.group(2) if match and match.group(1) in owners else line
        results[name] = f"{results[name]}\n{text}" if results[name] else text
    return results


def compile_jenkinsfiles(texts: Mapping[str, str]) -> dict[str, str | None]:
    """Compile every ``name -> Jenkinsfile text`` in one JVM; ``name -> None`` if it compiles, else its errors."""
    if not texts:
        return {}
    with tempfile.TemporaryDirectory(prefix="buildplat-groovy-") as tmp:
        work = Path(tmp)
        files = {name: work / f"Jenkinsfile_{index}.groovy" for index, name in enumerate(texts)}
        for name, path in files.items():
            path.write_text(texts[name], encoding="utf-8")
        checker = work / "check_jenkinsfiles.groovy"
        checker.write_text(_CHECKER, encoding="utf-8")
        env = {**os.environ, "JAVA_HOME": java_home()}
        argv = [groovy(), str(checker), *(str(path) for path in files.values())]
        done = run(argv, cwd=work, env=env, check=False, timeout=300, what="groovy")
    results = _report(done.stdout, {path.name: name for name, path in files.items()})
    if done.returncode != 0 or set(results) != set(texts):
        raise GroovyUnavailable(f"the groovy checker failed (exit {done.returncode}):\n{done.stdout}")
    return {name: results[name] for name in texts}


def compile_jenkinsfile(text: str, name: str = "Jenkinsfile") -> None:
    """Raise :class:`GroovyCompileError` with the compiler's message if ``text`` does not compile."""
    message = compile_jenkinsfiles({name: text})[name]
    if message is not None:
        raise GroovyCompileError(message)
