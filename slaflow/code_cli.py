"""``slaflow code``: push workflow code and manage it over the REST API (standard library only).

    slaflow code push stats.py                     # the next version of 'stats' (needs orchestrator.push_code)
    slaflow code push dist/mypkg-1.0-py3-none-any.whl --name mypkg
    slaflow code list                              # yours and shared with you
    slaflow code show alice/stats                  # its versions
    slaflow code share alice/stats --user bob --group analysts   (--remove to stop)

The server and token come from ``--url``/``--token`` or ``SLAFLOW_URL``/``SLAFLOW_TOKEN``
(``slaflow token USER`` prints a token). A spec then names a function as ``code:stats@3:mean``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_URL = "http://127.0.0.1:8000"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="slaflow code", description="Push workflow code and share it (docs/code.md).")
    p.add_argument(
        "--url",
        default=os.environ.get("SLAFLOW_URL") or DEFAULT_URL,
        help=f"the slaflow server (SLAFLOW_URL; default {DEFAULT_URL})",
    )
    p.add_argument("--token", default=os.environ.get("SLAFLOW_TOKEN"), help="your API token (SLAFLOW_TOKEN)")
    p.add_argument("--json", action="store_true", help="print the server's JSON answer")
    # the same options after the action too (slaflow code push f.py --token …); given there, they win
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="action", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    push = action("push", "push a module (.py) or pure-Python wheel (.whl) as its name's next version")
    push.add_argument("file")
    push.add_argument("--name", help="the importable name (default: the module's file name / the wheel's package)")
    action("list", "the code you may use: yours and shared with you")
    show = action("show", "one code's versions: OWNER/NAME")
    show.add_argument("code", metavar="OWNER/NAME")
    share = action("share", "share your code OWNER/NAME with users or groups (--remove to stop)")
    share.add_argument("code", metavar="OWNER/NAME")
    share.add_argument("--user", action="append", default=[], help="a user's name (repeatable)")
    share.add_argument("--group", action="append", default=[], help="a group's name (repeatable)")
    share.add_argument("--remove", action="store_true", help="stop sharing with them")
    return p


def main(argv: list[str]) -> int:
    from orchestrator.client import ApiError, Client

    args = parser().parse_args(argv)
    if not args.token:
        print(
            "slaflow code: no token: pass --token or set SLAFLOW_TOKEN (slaflow token USER prints one)", file=sys.stderr
        )
        return 2
    api = Client(args.url, args.token)
    try:
        if args.action == "push":
            try:
                with open(args.file, "rb") as f:
                    content = f.read()
            except OSError as exc:
                print(f"slaflow code push: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
                return 2
            out = api.push_code(os.path.basename(args.file), content, args.name)
            text = (
                f"{'pushed' if out['created_now'] else 'already pushed as'} {out['owner']}/{out['name']} "
                f"version {out['version']} ({out['kind']}, {out['size']} bytes, sha256 {out['sha256'][:12]}…)\n"
                f"a spec names its functions as code:{out['name']}@{out['version']}:<function>"
            )
        elif args.action == "list":
            out = api.code_list()
            text = (
                "\n".join(
                    f"{c['owner']}/{c['name']}  versions {', '.join(str(v['version']) for v in c['versions'])}"
                    + (
                        f"  shared with {', '.join(c['shared_with'] + c['shared_with_groups'])}"
                        if c["shared_with"] or c["shared_with_groups"]
                        else ""
                    )
                    for c in out
                )
                or "no pushed code you may use"
            )
        else:
            owner, _, name = args.code.partition("/")
            if not owner or not name:
                print(f"slaflow code {args.action}: name the code as OWNER/NAME, got {args.code!r}", file=sys.stderr)
                return 2
            if args.action == "show":
                out = api.code(owner, name)
            else:
                out = api.share_code(owner, name, users=args.user, groups=args.group, remove=args.remove)
            shared = ", ".join(out["shared_with"] + [g + " (group)" for g in out["shared_with_groups"]]) or "nobody"
            text = "\n".join(
                [f"{out['owner']}/{out['name']}  shared with: {shared}"]
                + [
                    f"  version {v['version']}  {v['kind']}  {v['size']} bytes  "
                    f"sha256 {v['sha256'][:12]}…  {v['created']}"
                    for v in out["versions"]
                ]
            )
    except ApiError as err:
        body = err.body
        detail = (
            body.get("detail")
            if isinstance(body, dict) and "detail" in body
            else "; ".join(f"{k}: {' '.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in body.items())
            if isinstance(body, dict)
            else str(body)
        )
        print(f"slaflow code {args.action}: refused ({err.status}): {detail}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"slaflow code {args.action}: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, default=str) if args.json else text)
    return 0
