"""The README's first screen, run the way a newcomer runs it, in a fresh clone: `make run`, then the phone
commands it shows (text ALTA to the virtual modem, read the inbox), then Ctrl-C. And every link in the README
and the deployment guide leads to a file.

The commands are read from README.md's code blocks, so a README that drifts from the Makefile or the demo
fails here. The clone is of the repository's HEAD (uncommitted changes are not in it; CI runs on a clean
checkout anyway). `make run` would first create `.venv` and install recado into it, which takes minutes: the
test hands it the virtual environment this test runs in (``VENV=``) and tells make the install is done
(``-o`` on the Makefile's own install stamp), so the recipe that runs is the one a newcomer's second
`make run` runs. The recado that starts is therefore this environment's install, driven by the clone's
Makefile and README.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import free_port, recado_env

REPOSITORY = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def _links(page: Path) -> list[str]:
    """The relative links of a Markdown page (no URLs, no anchors)."""
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text())
    return [target for target in targets if "://" not in target]


GUIDES = sorted(str(p.relative_to(REPOSITORY)) for p in (REPOSITORY / "docs").glob("*.md"))


@pytest.mark.parametrize(
    "page", ["README.md", "deploy/README.md", "DEVELOPERS.md", "flows/library/README.md", *GUIDES]
)
def test_every_link_leads_to_a_file(page: str) -> None:
    path = REPOSITORY / page
    links = _links(path)
    assert [link for link in links if not (path.parent / link).exists()] == []


def test_the_readme_points_at_the_deployment_guide() -> None:
    assert "deploy/README.md" in _links(REPOSITORY / "README.md")


def _shell_lines(readme: str) -> list[str]:
    """Every command line of the README's ``sh`` code blocks, comments and blank lines left out."""
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", readme, flags=re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("readme") / "recado"
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(target)], check=True, timeout=120)
    return target


def _make(clone: Path, *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=clone, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Demo:
    """`make run` in its own process group, so that Ctrl-C reaches make and recado as in a terminal."""

    def __init__(self, clone: Path, variables: dict[str, str], installed: str) -> None:
        self.log = clone.parent / "make-run.log"
        assignments = [f"{name}={value}" for name, value in variables.items()]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-o", installed, "run", *assignments],
                cwd=clone,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=recado_env(),
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"`make run` stopped by itself:\n{self.output()[-3000:]}")

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def stopper() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.close()


def _until(check: Callable[[], object], demo: Demo, what: str, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while True:
        demo.check_running()
        try:
            if check():
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}:\n{demo.output()[-3000:]}")
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("git", "make", "curl")), reason="needs git, make and curl"
)
def test_the_first_screen_works_in_a_fresh_clone(clone: Path, stopper: list[Demo]) -> None:
    readme = (clone / "README.md").read_text()
    commands = _shell_lines(readme)
    assert "make run" in commands, "the README no longer starts the demo with `make run`"
    phone_commands = [shlex.split(line) for line in commands if line.startswith("curl ")]
    texting = [argv for argv in phone_commands if "-X" in argv and "POST" in argv]
    reading = [argv for argv in phone_commands if argv not in texting and argv[-1].endswith("/inbox")]
    assert len(texting) == 1, phone_commands
    assert len(reading) == 1, phone_commands
    assert json.loads(texting[0][texting[0].index("-d") + 1]) == {"text": "ALTA"}

    # The server's and the virtual modem's ports as the README gives them, moved to free ones where the
    # Makefile lets a person choose (so the test does not collide with a demo already running).
    server_url = re.search(r"http://127\.0\.0\.1:(\d+)", readme)
    control = re.search(r"http://127\.0\.0\.1:(\d+)/phones/", readme)
    assert server_url is not None
    assert control is not None
    makefile = (clone / "Makefile").read_text()
    for name in ("VENV", "PORT", "DATA_DIR"):
        assert re.search(rf"^{name} \?=", makefile, flags=re.MULTILINE), f"the Makefile cannot take {name}"
    port = free_port()
    control_port = free_port() if re.search(r"^CONTROL_PORT \?=", makefile, re.MULTILINE) else None
    variables = {"VENV": str(VENV), "PORT": str(port), "DATA_DIR": str(clone.parent / "demo-data")}
    if control_port is not None:
        variables["CONTROL_PORT"] = str(control_port)
    ports = {server_url.group(1): str(port), control.group(1): str(control_port or control.group(1))}

    def local(argv: list[str]) -> list[str]:
        return [re.sub(r"(?<=127\.0\.0\.1:)(\d+)", lambda m: ports.get(m[1], m[1]), word) for word in argv]

    # Make's own name for the install stamp; a dry run proves nothing would be installed into this venv.
    installed = _make(clone, "--eval", "print-stamp: ; @echo $(STAMP)", "print-stamp", f"VENV={VENV}").strip()
    plan = _make(clone, "-n", "-o", installed, "run", *(f"{k}={v}" for k, v in variables.items()))
    assert "pip" not in plan, plan
    assert f"{VENV}/bin/recado demo" in plan, plan

    demo = Demo(clone, variables, installed)
    stopper.append(demo)

    def healthy() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(json.load(resp) == {"status": "ok"})

    _until(healthy, demo, "the server", deadline_s=120)

    def curl(argv: list[str]) -> str:
        result = subprocess.run(local(argv), capture_output=True, text=True, timeout=30)
        if result.returncode:
            raise ConnectionError(result.stderr)  # not up yet: an OSError, so the wait goes on
        return result.stdout

    _until(lambda: bool(curl(["curl", "-f", *texting[0][1:]])), demo, "the modem to take the SMS", 120)

    def questions() -> list[str]:
        inbox = json.loads(curl(["curl", "-f", *reading[0][1:]]))
        return [m["text"] for m in inbox["messages"] if "?" in m["text"]]

    _until(questions, demo, "the programme's first question on the phone", deadline_s=120)

    demo.ctrl_c()
    demo.process.wait(timeout=60)
    output = demo.output()
    assert "Traceback" not in output, output[-3000:]
    assert "Play the mother's phone" in output  # what the README says the demo prints

    def group_gone() -> bool:
        try:
            os.killpg(demo.process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    end = time.monotonic() + 30
    while not group_gone():  # Ctrl-C leaves nothing running: server, modem and gateway all stop
        assert time.monotonic() < end, "something `make run` started outlived Ctrl-C"
        time.sleep(0.2)
