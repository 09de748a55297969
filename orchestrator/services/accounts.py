"""API accounts: tokens for users (DRF's authtoken model: one token per user)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token


class AccountError(ValueError):
    """A token request slaflow refuses; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    username: str
    key: str
    user_created: bool
    token_created: bool


def issue_token(
    *, username: str, create_user: bool = False, staff: bool = False, rotate: bool = False, password: str | None = None
) -> IssuedToken:
    """The user's API token (created if missing; replaced when ``rotate``).

    With ``create_user`` a missing user is created (without a usable password
    unless one is given); ``staff`` makes the user staff, who see every run.
    """
    User = get_user_model()
    if not username or not isinstance(username, str):
        raise AccountError("a username is required")
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        user_created = False
        if user is None:
            if not create_user:
                raise AccountError(f"no user {username!r} (pass --create-user to create one)")
            user = User(username=username)
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user_created = True
        if staff and not user.is_staff:
            user.is_staff = True
        if user_created or staff:
            user.save()
        if rotate:
            Token.objects.filter(user=user).delete()
        token, token_created = Token.objects.get_or_create(user=user)
    return IssuedToken(
        username=user.get_username(), key=token.key, user_created=user_created, token_created=token_created
    )


def token_for_credentials(*, username: str, password: str, request=None) -> IssuedToken:
    """Exchange a username and password for the user's token."""
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise AccountError("unable to log in with these credentials")
    token, created = Token.objects.get_or_create(user=user)
    return IssuedToken(username=user.get_username(), key=token.key, user_created=False, token_created=created)
