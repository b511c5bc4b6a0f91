"""The Galaxy wrappers, Nextflow modules and container entry point against the CLI they call.

These run without Galaxy, Nextflow or a container engine: every option a wrapper or module passes
must be an option of that llm4ms command, every test file a wrapper names must exist, and each
module's meta.yml must describe the inputs and outputs its main.nf declares (nf-core's rules).
The wrappers themselves run in a real Galaxy with `make galaxy-test`.
"""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from llm4ms.cli.main import main as cli_group

ROOT = Path(__file__).resolve().parents[1]
WRAPPERS = ROOT / "galaxy_wrappers"
MODULES = ROOT / "nextflow" / "modules" / "local" / "llm4ms"
COMMANDS = sorted(cli_group.commands)

# wrapper file / module folder for each command
GALAXY_TOOL = {command: WRAPPERS / f"llm4ms_{command.replace('-', '_')}.xml" for command in COMMANDS}
NEXTFLOW_MODULE = {command: MODULES / command.replace("-", "") for command in COMMANDS}


def cli_options(command: str) -> set[str]:
    return {opt for param in cli_group.commands[command].params for opt in param.opts if opt.startswith("-")}


def options_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w$/'-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])", text))


def call_of(command: str, text: str) -> str:
    """The `llm4ms COMMAND ...` call in a wrapper's command or a module's script, up to its end."""
    start = text.index(f"llm4ms {command}")
    end = text.find("\n\n", start)
    return text[start:] if end < 0 else text[start:end]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_galaxy_wrapper_and_a_nextflow_module(command):
    assert GALAXY_TOOL[command].exists()
    assert (NEXTFLOW_MODULE[command] / "main.nf").exists()
    assert (NEXTFLOW_MODULE[command] / "meta.yml").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_galaxy_wrapper_passes_only_options_the_command_has(command):
    tool = ET.parse(GALAXY_TOOL[command]).getroot()
    call = call_of(command, tool.find("command").text)
    used = options_in(call)
    assert used, "no option found: the parser is broken"
    assert used <= cli_options(command), f"{GALAXY_TOOL[command].name}: not options of llm4ms {command}"


@pytest.mark.parametrize("command", COMMANDS)
def test_nextflow_module_passes_only_options_the_command_has(command):
    script = (NEXTFLOW_MODULE[command] / "main.nf").read_text()
    call = call_of(command, script.split("script:", 1)[1])
    used = options_in(call)
    assert used <= cli_options(command), f"{command} module: not options of llm4ms {command}"


@pytest.mark.parametrize("command", COMMANDS)
def test_wrappers_and_modules_keep_to_their_share_of_cores_and_a_clean_stderr(command):
    # faiss and torch take every core of the node unless told otherwise, and a progress bar redrawn for
    # hours fills a Galaxy job's stderr: each caller passes its scheduler's slots and --quiet where they exist.
    options = cli_options(command)
    galaxy = call_of(command, ET.parse(GALAXY_TOOL[command]).getroot().find("command").text)
    nextflow = call_of(command, (NEXTFLOW_MODULE[command] / "main.nf").read_text().split("script:", 1)[1])
    if "--threads" in options:
        assert "@THREADS@" in galaxy, GALAXY_TOOL[command].name
        assert "--threads $task.cpus" in nextflow, f"{command} module"
    if "--quiet" in options:
        assert options_in(galaxy) & {"--quiet", "-q"}, GALAXY_TOOL[command].name
        assert options_in(nextflow) & {"--quiet", "-q"}, f"{command} module"


@pytest.mark.parametrize("command", COMMANDS)
def test_galaxy_wrapper_tests_name_existing_files_and_check_content(command):
    tool = ET.parse(GALAXY_TOOL[command]).getroot()
    tests = tool.findall("tests/test")
    assert tests
    data_params = {p.get("name") for p in tool.iter("param") if p.get("type") == "data"}
    for test in tests:
        for param in test.iter("param"):
            if param.get("name") in data_params:
                for name in param.get("value").split(","):
                    assert (WRAPPERS / "test-data" / name).is_file(), name
        failure = test.get("expect_failure") == "true"
        checks = [check for tag in ("assert_contents", "assert_stderr", "assert_stdout") for check in test.iter(tag)]
        assert checks, f"{GALAXY_TOOL[command].name}: a test that only checks that something came out"
        if failure:
            assert test.get("expect_exit_code") in {"3", "4", "5"}


def test_galaxy_tools_share_one_version_and_the_package_version():
    import llm4ms

    macros = ET.parse(WRAPPERS / "macros.xml").getroot()
    tokens = {t.get("name"): t.text for t in macros.iter("token")}
    assert tokens["@TOOL_VERSION@"] == llm4ms.__version__
    for path in GALAXY_TOOL.values():
        assert ET.parse(path).getroot().get("version") == "@TOOL_VERSION@+galaxy@VERSION_SUFFIX@"


# Commands each workflow leaves out: train makes an adapter that embed then takes; score needs every query's
# true compound, which unknowns do not have, so only the benchmark workflow scores.
NOT_IN_WORKFLOW = {"llm4ms_identify": {"train", "score"}, "llm4ms_benchmark": {"train"}}


def test_every_workflow_has_a_test():
    assert {p.stem for p in (WRAPPERS / "workflows").glob("*.ga")} == set(NOT_IN_WORKFLOW)
    for name in NOT_IN_WORKFLOW:
        assert (WRAPPERS / "workflows" / f"{name}-tests.yml").is_file(), name


@pytest.mark.parametrize("name", sorted(NOT_IN_WORKFLOW))
def test_workflow_chains_the_wrappers_at_their_versions(name):
    workflow = json.loads((WRAPPERS / "workflows" / f"{name}.ga").read_text())
    macros = ET.parse(WRAPPERS / "macros.xml").getroot()
    tokens = {t.get("name"): t.text for t in macros.iter("token")}
    version = f"{tokens['@TOOL_VERSION@']}+galaxy{tokens['@VERSION_SUFFIX@']}"
    tool_ids = {ET.parse(p).getroot().get("id") for c, p in GALAXY_TOOL.items() if c not in NOT_IN_WORKFLOW[name]}
    steps = [s for s in workflow["steps"].values() if s["type"] == "tool"]
    assert {s["tool_id"] for s in steps} == tool_ids
    assert {s["tool_version"] for s in steps} == {version}


def _parameter_tree(element, macros: dict) -> dict:
    """The names a tool state may hold under ``element``: a param maps to None, a conditional or section
    to the tree of what it holds (a conditional: its test param and the params of every case)."""
    tree = {}
    for child in element:
        if child.tag == "expand":
            tree.update(_parameter_tree(macros[child.get("macro")], macros))
        elif child.tag == "param":
            tree[child.get("name")] = None
        elif child.tag in ("conditional", "section"):
            inner = _parameter_tree(child, macros)
            for case in child.findall("when"):
                inner.update(_parameter_tree(case, macros))
            tree[child.get("name")] = inner
    return tree


def _unknown_keys(state: dict, tree: dict, where: str = "") -> list[str]:
    unknown = []
    for key, value in state.items():
        if key.startswith("__"):  # Galaxy's own bookkeeping: __page__, __current_case__, ...
            continue
        if key not in tree:
            unknown.append(where + key)
        elif isinstance(value, dict):
            unknown += _unknown_keys(value, tree[key] or {}, f"{where}{key}.")
    return unknown


@pytest.mark.parametrize("name", sorted(NOT_IN_WORKFLOW))
def test_workflow_tool_states_name_only_the_wrappers_parameters(name):
    # Galaxy silently ignores a setting it cannot place (e.g. a conditional's param saved at the top level),
    # so a workflow would run with the wrapper's default instead of what it says.
    macros = {m.get("name"): m for m in ET.parse(WRAPPERS / "macros.xml").getroot().iter("xml")}
    by_id = {ET.parse(p).getroot().get("id"): ET.parse(p).getroot() for p in GALAXY_TOOL.values()}
    workflow = json.loads((WRAPPERS / "workflows" / f"{name}.ga").read_text())
    for step in (s for s in workflow["steps"].values() if s["type"] == "tool"):
        tree = _parameter_tree(by_id[step["tool_id"]].find("inputs"), macros)
        assert _unknown_keys(json.loads(step["tool_state"]), tree) == [], f"{name}: step {step['label']}"


def _declared(block: str) -> list[list[str]]:
    """Channel element names of a Nextflow input: or output: block, one list per channel."""
    channels = []
    for line in block.splitlines():
        line = line.split("//")[0].strip()
        if not line:
            continue
        names = [a or b for a, b in re.findall(r'\b(?:val|path)\(\s*([\w"${}.]+)|\bpath\s+("[^"]+"|\w+)', line)]
        emit = re.search(r"emit:\s*(\w+)", line)
        channels.append((names, emit.group(1) if emit else None))
    return channels


def _blocks(script: str) -> tuple[str, str]:
    inputs = re.search(r"\n\s*input:\n(.*?)\n\s*output:\n", script, re.S).group(1)
    outputs = re.search(r"\n\s*output:\n(.*?)\n\s*when:\n", script, re.S).group(1)
    return inputs, outputs


def _element_name(name: str) -> str:
    return name.strip('"')


@pytest.mark.parametrize("command", COMMANDS)
def test_nextflow_meta_yml_describes_main_nf(command):
    folder = NEXTFLOW_MODULE[command]
    meta = yaml.safe_load((folder / "meta.yml").read_text())
    inputs, outputs = _blocks((folder / "main.nf").read_text())

    # nf-core's meta schema: required keys, at least three keywords, typed and described elements
    for key in ("name", "description", "keywords", "authors", "output", "tools"):
        assert meta.get(key), key
    assert meta["name"] == f"llm4ms_{command.replace('-', '')}"
    assert len(set(meta["keywords"])) >= 3
    for tool in meta["tools"]:
        for record in tool.values():
            assert record["description"] and ("doi" in record or "homepage" in record or "documentation" in record)

    def elements(channel_list):
        for channel in channel_list:
            for element in channel:
                ((name, spec),) = element.items()
                assert spec["type"] in {"map", "file", "directory", "string", "integer", "float", "boolean", "list"}
                assert spec["description"]
                yield name

    declared_inputs = [names for names, _ in _declared(inputs)]
    meta_inputs = [[next(iter(e)) for e in (ch if isinstance(ch, list) else [ch])] for ch in meta["input"]]
    assert meta_inputs == declared_inputs
    list(elements(ch if isinstance(ch, list) else [ch] for ch in meta["input"]))

    declared_outputs = {emit: [_element_name(n) for n in names] for names, emit in _declared(outputs)}
    meta_outputs = {}
    for channel in meta["output"]:
        ((emit, channel_elements),) = channel.items()
        meta_outputs[emit] = list(elements([channel_elements]))
    assert meta_outputs.keys() == declared_outputs.keys()
    for emit, names in declared_outputs.items():
        assert meta_outputs[emit] == names, emit


@pytest.mark.parametrize("command", COMMANDS)
def test_nextflow_module_has_a_stub_making_every_output(command):
    script = (NEXTFLOW_MODULE[command] / "main.nf").read_text()
    stub = script.split("stub:", 1)[1]
    _, outputs = _blocks(script)
    for names, emit in _declared(outputs):
        files = [n.strip('"') for n in names if n not in ("meta",)]
        for name in files:
            assert name in stub, f"{command}: stub does not make {name} ({emit})"
    assert re.search(r"^\s*container\s", script, re.M)


@pytest.mark.parametrize("command", COMMANDS)
def test_nextflow_module_reads_no_pipeline_parameter_and_names_the_galaxy_image(command):
    # nf-core modules take everything through inputs and task.ext, so that another pipeline can include them;
    # the pipeline's config chooses the image (params.llm4ms_container) by a process selector.
    script = (NEXTFLOW_MODULE[command] / "main.nf").read_text()
    assert "params." not in script, command
    tokens = {t.get("name"): t.text for t in ET.parse(WRAPPERS / "macros.xml").getroot().iter("token")}
    image = tokens["@CONTAINER_IMAGE@"].replace("@TOOL_VERSION@", tokens["@TOOL_VERSION@"])
    assert re.findall(r"^\s*container\s+'([^']+)'", script, re.M) == [image], command


def test_pipeline_includes_every_module():
    pipeline = (ROOT / "nextflow" / "main.nf").read_text()
    for command in COMMANDS:
        module = f"./modules/local/llm4ms/{command.replace('-', '')}/main"
        assert f"from '{module}'" in pipeline


ENTRYPOINT = ROOT / "containers" / "entrypoint.sh"


def _entrypoint(*args):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["sh", str(ENTRYPOINT), *args], capture_output=True, text=True, env=env, timeout=120)


def test_container_entrypoint_runs_llm4ms_for_its_arguments():
    result = _entrypoint("--version")
    assert result.returncode == 0 and result.stdout.startswith("llm4ms, version")
    result = _entrypoint("build-index", "--help")
    assert result.returncode == 0 and "Build one library index file" in result.stdout


def test_container_entrypoint_runs_a_galaxy_or_nextflow_command_as_given():
    result = _entrypoint("/bin/sh", "-c", "echo ran by $0")
    assert result.returncode == 0 and result.stdout.strip() == "ran by /bin/sh"


def test_docker_build_context_holds_what_the_dockerfile_copies_and_no_more():
    # .dockerignore lets in only listed paths; a COPY of anything else would fail the build, and a path let
    # in that no COPY uses (a virtualenv) would be sent to the daemon for nothing.
    sources = set()
    for line in (ROOT / "containers" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources.update(p.rstrip("/") for p in line.split()[1:-1])
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "*"
    assert {r[1:] for r in rules if r.startswith("!")} == sources
    for source in sources:
        assert (ROOT / source).exists(), source
