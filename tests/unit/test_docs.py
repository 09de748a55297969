"""The documentation site builds strictly, and names only commands, options and settings that exist.

(The blocks marked runnable are run in tests/integration/test_docs_commands.py.)
"""

import json
import os
import re
import subprocess
import sys

from django.core.management import get_commands, load_command_class

from slaflow.cli import VERBS
from tests.docsutil import BASE, DOCS, all_blocks, blocks, pages

SOURCES = ("orchestrator", "store", "workers", "localcluster", "reports", "experiments", "slaflow", "webui", "tests")
_READ = re.compile(
    r"(?:environ(?:\.get|\.setdefault)?\(|environ\[|env_[a-z_]+\(|getenv\()\s*"
    r"[\"']([A-Z][A-Z0-9_]+)[\"']"
)
_NAMED = re.compile(r"\b(SLAFLOW_[A-Z0-9_]*[A-Z0-9]|DJANGO_[A-Z_]*[A-Z]|OTEL_[A-Z_]*[A-Z]|DATABASE_URL|REDIS_URL)\b")
_COMMAND = re.compile(r"\bslaflow\s+([a-z][a-z_]*)([^\n`|;&#)]*)")
# How Django finds the settings, and what Lambda tells its handler (workers/lambda_handler.py): not settings.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"}


def _reads(paths) -> set[str]:
    return {name for path in paths for name in _READ.findall(path.read_text())}


def _code_files(dirs):
    return [p for d in dirs for p in (BASE / d).rglob("*.py") if ".venv" not in p.parts]


def test_the_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for verb in VERBS:
        if VERBS[verb].command:
            assert f"usage: slaflow {verb}" in cli, verb  # each verb's own --help, generated
    assert "usage: slaflow code" in cli and "OWNER/NAME" in cli  # the REST client verb's own --help
    assert "--optimizations" in cli and "spaces or commas" in cli
    python = (site / "reference" / "python" / "index.html").read_text()
    for name in ("submit", "Client", "HookChain", "add_list_argument", "exposition"):
        assert name in python, name  # mkdocstrings rendered the modules


def test_every_page_is_in_the_nav():
    import yaml

    nav = json.dumps(yaml.safe_load((BASE / "mkdocs.yml").read_text().replace("!!python", ""))["nav"])
    for page in DOCS.rglob("*.md"):
        assert f'"{page.relative_to(DOCS)}"' in nav, page


def _code(text: str) -> list[str]:
    """Shell blocks and inline code of a page."""
    return [b.body for b in blocks(text) if b.lang in ("sh", "bash", "")] + re.findall(r"`([^`\n]+)`", text)


def test_every_slaflow_command_and_option_the_docs_name_exists():
    checked = 0
    for page, text in pages().items():
        for snippet in _code(text):
            for verb, rest in _COMMAND.findall(snippet):
                assert verb in VERBS, f"{page}: slaflow {verb}"
                if verb == "manage" or not VERBS[verb].command:
                    continue
                name = VERBS[verb].command
                parser = load_command_class(get_commands()[name], name).create_parser("slaflow", verb)
                known = {o for a in parser._actions for o in a.option_strings}
                for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
                    assert option in known, f"{page}: slaflow {verb} {option}"
                checked += 1
    assert checked > 30


def test_every_setting_the_docs_name_is_read_by_the_code_and_every_one_read_is_documented():
    read = _reads(_code_files(SOURCES))
    named = {n for text in pages().values() for n in _NAMED.findall(text)}
    assert named - read - NOT_SETTINGS == set(), "named in the docs, read nowhere"
    reference = (DOCS / "reference" / "settings.md").read_text()
    documented = set(_NAMED.findall(reference))
    product = _reads(_code_files(SOURCES[:-1])) - NOT_SETTINGS
    assert product - documented == set(), "read by the code, missing from docs/reference/settings.md"


def test_code_blocks_are_valid_python_and_json():
    for block in all_blocks():
        if block.lang == "python":
            compile(block.body, block.page, "exec")
        elif block.lang == "json":
            json.loads(block.body)


def test_the_readme_is_short_and_points_into_the_docs():
    readme = (BASE / "README.md").read_text()
    assert len(readme) < 8000
    assert "make demo" in readme and "make test" in readme
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) >= 8
    for link in links:
        assert (BASE / link).is_file(), link


def test_make_targets_the_docs_name_exist():
    makefile = (BASE / "Makefile").read_text()
    named = {t for text in pages().values() for code in _code(text) for t in re.findall(r"\bmake ([a-z]+)\b", code)}
    assert {"demo", "test"} <= named
    for target in named:
        assert re.search(rf"^{target}:", makefile, re.M), f"make {target}"
