"""The generated Jenkinsfile against the rules of Declarative Pipeline (pipeline-model-definition), not only Groovy.

Groovy compiles any block structure (tests/test_render.py), so a post condition Jenkins does not know, a stage
option that only exists at pipeline level or an ``input`` with an unknown key would pass it and fail only when the
job first runs. This reads the script's block structure (strings and comments skipped) and checks it against the
parts of the declarative grammar the template uses, as the plugin's validator would.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest

from buildplat.buildfacts import registry
from buildplat.errors import BuildplatError
from buildplat.jobs.inputs import Credentials, JobInputs, JobTarget, fingerprint
from buildplat.jobs.render import Renderer
from buildplat.jobs.templates import packaged_templates
from buildplat.spec.model import load_app
from tests.sync.helpers import app_doc, dump

# pipeline-model-definition's names (BuildCondition extensions, stage-level options, input directive keys).
POST_CONDITIONS = {
    "always", "changed", "fixed", "regression", "aborted", "failure", "success", "unstable", "unsuccessful",
    "cleanup",
}  # fmt: skip
STAGE_OPTIONS = {"timeout", "retry", "timestamps", "skipDefaultCheckout"}
INPUT_KEYS = {"message", "id", "ok", "submitter", "submitterParameter", "parameters"}
STAGE_BODIES = {"steps", "stages", "parallel", "matrix"}


@dataclass
class Block:
    name: str
    args: str  # what stood between the name and "{": "('ci')" for a stage
    body: str  # the text inside the braces, blocks included
    children: list[Block] = field(default_factory=list)

    def find(self, name: str) -> list[Block]:
        return [child for child in self.children if child.name == name]

    def walk(self) -> list[Block]:
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


def _mask(script: str) -> str:
    """The script with every string and comment blanked (same length), so braces inside them do not count."""
    out = list(script)
    index = 0
    while index < len(script):
        if script.startswith("//", index):
            end = script.find("\n", index)
            end = len(script) if end < 0 else end
        elif script[index] in "'\"":
            quote, end = script[index], index + 1
            while script[end] != quote:
                end += 2 if script[end] == "\\" else 1
            end += 1
        else:
            index += 1
            continue
        for position in range(index, end):
            if out[position] != "\n":
                out[position] = " "
        index = end
    return "".join(out)


def parse_blocks(script: str) -> Block:
    masked = _mask(script)
    root = Block("<script>", "", script)
    stack = [(root, 0)]
    opener = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(\([^(){}]*\))?\s*$")
    for index, char in enumerate(masked):
        if char == "{":
            before = masked[:index].rstrip()
            match = opener.search(before)
            if match is None:  # a closure argument such as `withCredentials([...]) {`
                match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(.*\)\s*$", before.split("\n")[-1])
            name = match.group(1) if match else "<closure>"
            args = script[match.start(2) : match.end(2)] if match and match.lastindex == 2 and match.group(2) else ""
            block = Block(name, args, "")
            stack[-1][0].children.append(block)
            stack.append((block, index + 1))
        elif char == "}":
            block, start = stack.pop()
            block.body = script[start:index]
    assert len(stack) == 1, "unbalanced braces"
    return root


def _script(*, kube: str | None = None, approvers: tuple[str, ...] = ()) -> str:
    source = dump(app_doc("shop")).encode()
    credentials = Credentials(kubernetes=kube)
    target = JobTarget("team", "team", "git://git.example.com/team/shop.git", "release/1.x", credentials, approvers)
    (job,) = Renderer(packaged_templates()).render_jobs([JobInputs(load_app(source, "default.json"), source, target)])
    text = ET.fromstring(job.xml).findtext("./definition/script")
    assert text
    return text


@pytest.fixture(
    scope="module",
    params=[(None, ()), ("team-kubeconfig", ()), (None, ("alice", "team-release@corp"))],
    ids=["pod-account", "kubeconfig", "approvers"],
)
def script(request: pytest.FixtureRequest) -> str:
    kube, approvers = request.param
    return _script(kube=kube, approvers=approvers)


def _stages(root: Block) -> list[Block]:
    return [block for block in root.walk() if block.name == "stage"]


def test_the_parser_sees_the_pipeline(script: str) -> None:
    (pipeline,) = parse_blocks(script).find("pipeline")
    names = [stage.args for stage in _stages(pipeline)]
    assert names[:2] == ["('ci')", "('checkout')"]
    assert names[-2:] == ["('approve prod')", "('promote prod')"]


def test_every_stage_has_exactly_one_body(script: str) -> None:
    for stage in _stages(parse_blocks(script)):
        bodies = [child.name for child in stage.children if child.name in STAGE_BODIES]
        assert len(bodies) == 1, (stage.args, bodies)


def test_post_conditions_are_ones_jenkins_knows(script: str) -> None:
    posts = [block for block in parse_blocks(script).walk() if block.name == "post"]
    assert posts
    for post in posts:
        assert post.children
        assert {child.name for child in post.children} <= POST_CONDITIONS, post.body


def test_stage_options_are_stage_level_options(script: str) -> None:
    for stage in _stages(parse_blocks(script)):
        for options in stage.find("options"):
            used = set(re.findall(r"^\s*([A-Za-z]+)\s*\(", options.body, flags=re.MULTILINE))
            assert used, stage.args
            assert used <= STAGE_OPTIONS, (stage.args, used)


def test_the_approval_waits_without_an_agent_and_its_timeout_covers_only_the_question(script: str) -> None:
    (approve,) = [stage for stage in _stages(parse_blocks(script)) if stage.args == "('approve prod')"]
    (question,) = approve.find("input")
    keys = set(re.findall(r"^\s*([A-Za-z]+)\s", question.body, flags=re.MULTILINE))
    assert "message" in keys
    assert keys <= INPUT_KEYS
    assert not approve.find("agent")  # nobody's pod waits for a person
    assert "timeout(" in approve.find("options")[0].body
    (promote,) = [stage for stage in _stages(parse_blocks(script)) if stage.args == "('promote prod')"]
    assert not promote.find("options")  # a rollout is never cut short by the approval's hour
    assert "env.BUILDPLAT_APPROVED_BY = env.BUILDPLAT_APPROVER" in approve.body
    assert "submitterParameter 'BUILDPLAT_APPROVER'" in question.body


def test_script_blocks_only_inside_steps(script: str) -> None:
    root = parse_blocks(script)

    def check(block: Block, inside_steps: bool) -> None:
        if block.name == "script":
            assert inside_steps
        for child in block.children:
            check(child, inside_steps or block.name == "steps" or block.name in POST_CONDITIONS)

    check(root, False)


def test_prod_promotes_the_commit_ci_built_with_the_state_ci_stashed(script: str) -> None:
    stages = {stage.args: stage for stage in _stages(parse_blocks(script))}
    checkout = stages["('checkout')"].find("steps")[0].body
    assert "env.BUILDPLAT_COMMIT = checkout(" in checkout
    assert 'branches: [[name: "refs/heads/${params.BUILDPLAT_BRANCH}"]]' in checkout
    ci_post = stages["('ci')"].find("post")[0]
    assert "stash name: 'buildplat-state', includes: '.buildplat/pipeline.json'" in ci_post.find("success")[0].body
    prod = stages["('promote prod')"].find("steps")[0].body
    assert "checkout(poll: false, changelog: false," in prod
    assert "branches: [[name: env.BUILDPLAT_COMMIT]]" in prod
    assert prod.index("unstash 'buildplat-state'") < prod.index("buildplat step promote --to prod")


def test_system_test_reports_are_published_without_deciding_the_result(script: str) -> None:
    stages = {stage.args: stage for stage in _stages(parse_blocks(script))}
    (post,) = stages["('verify')"].find("post")
    (always,) = post.find("always")
    assert "junit testResults: '.buildplat/junit/*.xml'" in always.body
    assert "skipMarkingBuildUnstable: true" in always.body


def test_agents_are_the_primary_buildfacts_label(script: str) -> None:
    labels = re.findall(r"agent \{ label '([^']*)' \}", script)
    assert labels == [registry.get("java").agent_label] * 2


def test_secrets_are_bound_by_id_and_never_interpolated_by_groovy(script: str) -> None:
    ids = re.findall(r"credentialsId: '([^']*)'", script)
    assert set(ids) >= {"buildplat-apt", "buildplat-registry", "buildplat-hubot"}
    assert not re.search(r"credentialsId:\s*[^' ]", script)  # a literal ID, never an expression
    # Shell lines are single-quoted: the shell expands $VARS, Groovy never pastes a secret into a command line.
    assert re.findall(r"\bsh\s+\"", script) == []
    for line in script.splitlines():
        if '"' in _mask(line) or "${" not in line:
            continue
        interpolated = re.findall(r"\$\{([^}]*)\}", line)
        assert set(interpolated) <= {"currentBuild.previousBuild?.result ?: ''", "params.BUILDPLAT_BRANCH"}, line


def test_a_failed_prod_promotion_is_announced_an_unanswered_approval_is_not(script: str) -> None:
    stages = {stage.args: stage for stage in _stages(parse_blocks(script))}
    (post,) = stages["('promote prod')"].find("post")
    assert [child.name for child in post.children] == ["failure"]
    assert 'buildplat step notify --config "$BUILDPLAT_CONFIG" --result failure' in post.body
    assert not stages["('approve prod')"].find("post")


def test_a_build_a_person_aborted_is_not_announced_as_a_failure(script: str) -> None:
    stages = {stage.args: stage for stage in _stages(parse_blocks(script))}
    (post,) = stages["('ci')"].find("post")
    assert [child.name for child in post.children] == ["success", "failure"]
    assert "--result failure" in post.find("failure")[0].body


def _question(script: str) -> Block:
    (approve,) = [stage for stage in _stages(parse_blocks(script)) if stage.args == "('approve prod')"]
    (question,) = approve.find("input")
    return question


def test_prod_approvers_become_the_approvals_submitter_list() -> None:
    question = _question(_script(approvers=("alice", "team-release@corp")))
    assert re.findall(r"^\s*submitter '([^']*)'$", question.body, flags=re.MULTILINE) == ["alice,team-release@corp"]


def test_without_prod_approvers_anyone_who_may_build_approves() -> None:
    assert "submitter " not in _question(_script()).body


@pytest.mark.parametrize("approver", ["a,b", "o'brien", "al ice", "${evil}", "", "-x"])
def test_an_approver_that_could_change_the_script_is_refused(approver: str) -> None:
    with pytest.raises(BuildplatError, match="invalid prod approver"):
        JobTarget("team", "team", "git://x/shop.git", prod_approvers=(approver,))


def test_approvers_are_part_of_the_fingerprint_and_no_approvers_keep_the_old_one() -> None:
    plain = JobTarget("team", "team", "git://x/shop.git")
    gated = JobTarget("team", "team", "git://x/shop.git", prod_approvers=("alice",))
    assert "prod_approvers" not in plain.digest_input()
    assert fingerprint("0" * 64, plain, "t") != fingerprint("0" * 64, gated, "t")
