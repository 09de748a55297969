"""slaflow deploy lambda [--dry-run] [--deps pip|none] [--package ZIP] [--image-uri URI] [--role ARN]
[--timeout S] [--env K=V ...] [--code-bucket B] [--prune] [--save-package ZIP]"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orchestrator import cliargs
from orchestrator.deploy import lambdas, package as package_mod


class Command(BaseCommand):
    help = (
        "Deploy slaflow's executors. `deploy lambda`: one AWS Lambda function per configuration in "
        "SLAFLOW_LAMBDA_CONFIGS (memory, timeout, environment, VPC, role), created or updated idempotently; "
        "prints what changed (--dry-run: what it would create, without calling AWS)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "target",
            choices=["lambda"],
            help="lambda: one AWS Lambda function per configuration on the Lambda executor",
        )
        lam = parser
        lam.add_argument("--dry-run", action="store_true", help="print the functions it would create; call no AWS API")
        lam.add_argument(
            "--deps",
            choices=("pip", "none"),
            default="pip",
            help="bundle the dependencies into the zip (pip, for Lambda's Python runtime) or not "
            "(none: slaflow's code only; the dependencies come from a layer)",
        )
        lam.add_argument("--package", type=Path, help="upload this zip instead of building one")
        lam.add_argument("--save-package", type=Path, help="also write the built zip here")
        lam.add_argument("--image-uri", default="", help="deploy this container image (ECR) instead of a zip")
        lam.add_argument("--role", default=None, help="execution role ARN (default SLAFLOW_LAMBDA_ROLE_ARN)")
        lam.add_argument("--timeout", type=int, default=None, help="seconds (default SLAFLOW_LAMBDA_TIMEOUT_S)")
        cliargs.add_list_argument(
            lam, "--env", split=cliargs.words, metavar="K=V", help="extra environment variables of the functions"
        )
        lam.add_argument(
            "--code-bucket", default=None, help="S3 bucket for a zip over 50 MB (default SLAFLOW_OBJECT_STORE_BUCKET)"
        )
        lam.add_argument(
            "--prune",
            action="store_true",
            help="delete functions named like ours whose configuration is not on the Lambda executor",
        )

    def handle(self, *args, **opts):
        extra = {}
        for item in opts["env"]:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--env {item!r}: expected KEY=VALUE")
            extra[key] = value
        try:
            specs = lambdas.desired(
                role=opts["role"], timeout_s=opts["timeout"], image_uri=opts["image_uri"], extra_env=extra
            )
            if opts["dry_run"]:
                return self._dry_run(specs, opts)
            pkg = None if opts["image_uri"] else self._package(opts)
            if pkg is not None:
                self.stdout.write(f"package: {pkg.describe()}")
            lam = lambdas.client()
            changes = lambdas.plan(lam, specs, pkg.sha256 if pkg else None)
            s3 = lambdas.s3_client() if pkg is not None and len(pkg.data) > package_mod.DIRECT_UPLOAD_MAX else None
            done = lambdas.apply(
                lam,
                changes,
                pkg,
                prune=opts["prune"],
                s3=s3,
                bucket=opts["code_bucket"] or settings.SLAFLOW_OBJECT_STORE_BUCKET or None,
                out=self.stdout.write,
            )
        except (lambdas.DeployError, package_mod.PackageError) as exc:
            raise CommandError(str(exc)) from None
        words = {
            "create": "created",
            "update": "updated",
            "unchanged": "unchanged",
            "delete": "deleted",
            "stale": "stale",
        }
        counts = {w: sum(1 for c in done if c.action == a) for a, w in words.items()}
        self.stdout.write(", ".join(f"{n} {w}" for w, n in counts.items() if n))
        if not settings.SLAFLOW_OBJECT_STORE_BUCKET:
            self.stderr.write(
                "warning: no SLAFLOW_OBJECT_STORE_BUCKET: big outputs will go through Redis (Lambda "
                "cannot reach a host's shared memory)"
            )

    def _package(self, opts):
        if opts["package"]:
            data = opts["package"].read_bytes()
            return package_mod.Package(data, 0, 0, f"as built in {opts['package']}")
        pkg = package_mod.build(
            deps=opts["deps"],
            runtime=settings.SLAFLOW_LAMBDA_RUNTIME,
            workflow_modules=settings.SLAFLOW_WORKFLOW_MODULES,
        )
        if opts["save_package"]:
            opts["save_package"].write_bytes(pkg.data)
        return pkg

    def _dry_run(self, specs, opts) -> None:
        self.stdout.write("dry run: nothing is built or sent to AWS")
        if opts["image_uri"]:
            self.stdout.write(f"code: container image {opts['image_uri']}")
        elif opts["package"]:
            self.stdout.write(f"code: the zip {opts['package']}")
        else:
            deps = (
                (
                    "+ " + ", ".join(package_mod.requirements()) + " (pip, manylinux2014_x86_64, "
                    f"{settings.SLAFLOW_LAMBDA_RUNTIME})"
                )
                if opts["deps"] == "pip"
                else "(no dependencies)"
            )
            self.stdout.write(f"code: a zip of {', '.join(package_mod.PACKAGES)} {deps}")
        region = settings.SLAFLOW_LAMBDA_ENDPOINT_URL or f"AWS region {settings.SLAFLOW_AWS_REGION}"
        for spec in specs:
            self.stdout.write(f"would create or update {spec.name} in {region}: {spec.summary()}")
        if not specs[0].role:
            self.stderr.write("warning: no execution role: set SLAFLOW_LAMBDA_ROLE_ARN or give --role before deploying")
