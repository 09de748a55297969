"""mkdocs hooks (mkdocs.yml ``hooks``): the command-line reference is the commands' own --help.

``<!-- cli-help -->`` in a page becomes ``slaflow --help`` and, per verb, ``slaflow VERB --help``,
rendered by the same parsers the commands use (``slaflow.cli``), so the page cannot drift from them.
"""
from __future__ import annotations

import os

MARKER = "<!-- cli-help -->"


def cli_help() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ["COLUMNS"] = "110"  # argparse wraps at the terminal's width: the same page everywhere
    import django

    django.setup()
    from django.core.management import get_commands, load_command_class

    from slaflow import cli

    parts = ["## slaflow", "", "```text", cli.usage(), "```", ""]
    for verb, spec in cli.VERBS.items():
        if verb == "code":  # a REST client, not a management command
            from slaflow import code_cli

            parts += [f"## slaflow {verb}", "", f"{spec.summary[:1].upper()}{spec.summary[1:]}.", "", "```text",
                      code_cli.parser().format_help().rstrip(), "```", ""]
            continue
        if not spec.command:
            continue
        command = load_command_class(get_commands()[spec.command], spec.command)
        command.suppressed_base_arguments = cli.DJANGO_OPTIONS
        parser = command.create_parser("slaflow", verb)
        parser.prog = f"slaflow {verb}"
        parts += [f"## slaflow {verb}", "", f"{spec.summary[:1].upper()}{spec.summary[1:]}.", "", "```text",
                  parser.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, cli_help())
    return markdown
