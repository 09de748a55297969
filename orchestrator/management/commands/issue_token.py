"""python manage.py issue_token USER [--create-user] [--staff] [--rotate]: print a user's API token."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from orchestrator import cliargs
from orchestrator.services.accounts import AccountError, issue_token


class Command(BaseCommand):
    help = (
        "Print the REST API token of USER (only the key on stdout, so TOKEN=$(... issue_token demo) works). "
        "Use it as 'Authorization: Token <key>'."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user if it does not exist")
        parser.add_argument("--staff", action="store_true", help="make the user staff (sees every user's runs)")
        parser.add_argument("--rotate", action="store_true", help="replace an existing token with a new one")
        parser.add_argument(
            "--password", default=None, help="password for a user created now (for the browser and /api/auth/token/)"
        )

    def handle(self, *args, **opts):
        try:
            issued = issue_token(**cliargs.pick(opts, "username", "create_user", "staff", "rotate", "password"))
        except AccountError as exc:
            raise CommandError(str(exc)) from None
        notes = []
        if issued.user_created:
            notes.append(f"created user {issued.username!r}")
        notes.append("new token" if issued.token_created else "existing token")
        self.stderr.write("; ".join(notes))
        self.stdout.write(issued.key)
