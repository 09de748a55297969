"""Pushing, listing and sharing workflow code; pinning a submission's references to exact hashes.

Every entry point (REST, the ``slaflow code`` command through REST, the admin) comes through here:
``push`` checks everything (``checks``) before one transaction stores the bytes (once per content) and
the next version of (owner, name), so a refused push stores nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from orchestrator.core import codechecks as checks, coderefs as refs
from orchestrator.core.codechecks import CodeError
from orchestrator.models import CodeBlob, CodeVersion, WorkflowCode

PERMISSION = "orchestrator.push_code"


class CodePermissionError(PermissionError):
    pass


class CodeNotFound(LookupError):
    pass


def can_push(user) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(PERMISSION))


def push(user, filename: str, data: bytes, name: str | None = None) -> tuple[CodeVersion, bool]:
    """Store ``data`` as the next version of (user, name); (the version, whether it is new). Pushing the
    content of an existing version of that name again returns that version."""
    if not can_push(user):
        raise CodePermissionError(
            f"pushing code needs the {PERMISSION} permission (pushed code runs on the "
            "workers with their privileges); ask an administrator"
        )
    data = bytes(data)
    filename = os.path.basename(str(filename or ""))
    kind = checks.kind_of(filename, data)
    max_bytes = int(settings.SLAFLOW_CODE_MAX_BYTES)
    if name is not None and not isinstance(name, str):
        raise CodeError(f"name {name!r} is not a string", "name")
    if kind == CodeVersion.Kind.MODULE:
        name = checks.check_name(name or filename[:-3])
        checks.module_files(data, name, max_bytes)
    else:
        files = checks.wheel_files(data, max_bytes, int(settings.SLAFLOW_CODE_MAX_UNPACKED_BYTES))
        name = checks.check_name(checks.wheel_name(files, name or None))
    sha = hashlib.sha256(data).hexdigest()
    for attempt in range(3):  # two first pushes of one name racing: the loser retries and finds the row
        try:
            return _store(user, name, kind, filename, data, sha)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _store(user, name: str, kind: str, filename: str, data: bytes, sha: str) -> tuple[CodeVersion, bool]:
    CodeBlob.objects.get_or_create(sha256=sha, defaults={"data": data, "size": len(data)})
    code, _ = WorkflowCode.objects.get_or_create(owner=user, name=name)
    code = WorkflowCode.objects.select_for_update().get(pk=code.pk)  # versions are numbered one at a time
    same = code.versions.filter(sha256_id=sha).order_by("-version").first()
    if same is not None:
        return same, False
    latest = code.versions.aggregate(v=Max("version"))["v"] or 0
    version = CodeVersion.objects.create(
        code=code, version=latest + 1, sha256_id=sha, size=len(data), kind=kind, filename=filename[:200]
    )
    return version, True


def visible(user):
    """The code ``user`` may name: their own and what is shared with them or their groups (all for None:
    an operator's own Python)."""
    qs = WorkflowCode.objects.select_related("owner")
    if user is None:
        return qs
    return qs.filter(Q(owner=user) | Q(shared_with=user) | Q(shared_with_groups__in=user.groups.all())).distinct()


def get_visible(user, name: str, owner: str | None = None) -> WorkflowCode:
    """The code named ``name`` (of ``owner``, if given) that ``user`` sees; their own first."""
    found = list(visible(user).filter(name=name, **({"owner__username": owner} if owner else {})))
    if not found:
        whose = f" of {owner!r}" if owner else ""
        raise CodeNotFound(f"no pushed code named {name!r}{whose} that you own or that is shared with you")
    own = [c for c in found if user is not None and c.owner_id == user.pk]
    if own:
        return own[0]
    if len(found) > 1:
        owners = ", ".join(sorted(c.owner.username for c in found))
        raise CodeNotFound(
            f"pushed code {name!r} is shared with you by several users ({owners}): name one as code:<owner>/{name}@…"
        )
    return found[0]


def version_of(code: WorkflowCode, ref: refs.CodeRef) -> CodeVersion:
    versions = code.versions.all()
    if ref.version is not None:
        got = versions.filter(version=ref.version).first()
        if got is None:
            latest = versions.aggregate(v=Max("version"))["v"]
            raise CodeNotFound(f"pushed code {code.name!r} has no version {ref.version} (the latest is {latest})")
        return got
    if ref.sha_prefix is not None:
        found = list(versions.filter(sha256__sha256__startswith=ref.sha_prefix))
        if not found:
            raise CodeNotFound(f"pushed code {code.name!r} has no version with sha256 {ref.sha_prefix}…")
        if len({v.sha256_id for v in found}) > 1:
            raise CodeNotFound(f"sha256 {ref.sha_prefix}… matches several versions of {code.name!r}: give more digits")
        return found[0]
    got = versions.order_by("-version").first()
    if got is None:
        raise CodeNotFound(f"pushed code {code.name!r} has no version")
    return got


def pin(path: str, owner, *, network: bool) -> str:
    """The pinned form of a reference ``owner`` may use (``refs``); raises CodeError naming the problem."""
    try:
        ref = refs.parse(path)
    except refs.RefError as exc:
        raise CodeError(str(exc), "dag") from None
    if network and owner is None:
        raise CodeError(f"function {path!r}: pushed code is named only by a signed-in user", "dag")
    try:
        code = get_visible(owner, ref.name, ref.owner)
        version = version_of(code, ref)
    except CodeNotFound as exc:
        raise CodeError(f"function {path!r}: {exc}", "dag") from None
    if not can_push(code.owner):
        raise CodeError(
            f"function {path!r}: the code's owner {code.owner.username!r} may no longer push code "
            f"({PERMISSION}), so their code does not run",
            "dag",
        )
    return refs.pinned(code.name, version.sha256_id, ref.function)


def pin_graph(graph: dict, owner, *, network: bool) -> dict:
    """``graph`` with every reference to pushed code pinned to its hash (other nodes as they are)."""
    if not any(refs.is_ref(node.function) for node in graph.values()):
        return graph
    pinned: dict[str, str] = {}
    out = {}
    for nid, node in graph.items():
        if refs.is_ref(node.function):
            if node.function not in pinned:
                pinned[node.function] = pin(node.function, owner, network=network)
            node = dataclasses.replace(node, function=pinned[node.function])
        out[nid] = node
    return out


def share(user, name: str, *, users=(), groups=(), remove: bool = False) -> WorkflowCode:
    """Share the user's own code ``name`` with users and groups (by name), or stop sharing it."""
    code = WorkflowCode.objects.filter(owner=user, name=name).first()
    if code is None:
        raise CodeNotFound(f"you have pushed no code named {name!r}")
    User = get_user_model()
    found_users = list(User.objects.filter(username__in=list(users)))
    missing = sorted(set(users) - {u.username for u in found_users})
    if missing:
        raise CodeError(f"no user named {', '.join(map(repr, missing))}", "users")
    found_groups = list(Group.objects.filter(name__in=list(groups)))
    missing = sorted(set(groups) - {g.name for g in found_groups})
    if missing:
        raise CodeError(f"no group named {', '.join(map(repr, missing))}", "groups")
    with transaction.atomic():
        if remove:
            code.shared_with.remove(*found_users)
            code.shared_with_groups.remove(*found_groups)
        else:
            code.shared_with.add(*found_users)
            code.shared_with_groups.add(*found_groups)
    return code


def describe(code: WorkflowCode) -> dict:
    return {
        "owner": code.owner.username,
        "name": code.name,
        "created": code.created,
        "shared_with": sorted(u.username for u in code.shared_with.all()),
        "shared_with_groups": sorted(g.name for g in code.shared_with_groups.all()),
        "versions": [describe_version(v, code) for v in code.versions.order_by("-version")],
    }


def describe_version(version: CodeVersion, code: WorkflowCode | None = None) -> dict:
    code = code or version.code
    return {
        "owner": code.owner.username,
        "name": code.name,
        "version": version.version,
        "sha256": version.sha256_id,
        "size": version.size,
        "kind": version.kind,
        "filename": version.filename,
        "created": version.created,
        "reference": f"code:{code.owner.username}/{code.name}@{version.version}:<function>",
    }
