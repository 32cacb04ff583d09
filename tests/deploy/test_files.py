"""The deployment files say what the code does: deploy/compose.yaml (the one-host trial), the
systemd units, the environment file and the Dockerfile. Docker does not run here, so nothing
is started from them; instead every command they run is checked against the real programs
(a ``newsletter`` subcommand that exists and takes those options; ``celery -A worker worker``
and ``beat`` with options Celery knows; gunicorn with the real app factory, loaded), and every
setting they give is read by :class:`~newsletter.config.Settings`."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from newsletter.cli import cli
from newsletter.config import Settings, read_dotenv, variable_of
from newsletter.db import make_engine, upgrade
from newsletter.services.dkim import new_key
from tests.helpers.env import ROOT, clean_environ

DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
VENV = "/opt/newsletter/venv/bin/"
FACTORY = "newsletter.web:create_app()"
KEY = "k" * 43  # what secrets.token_urlsafe(32) gives: 43 characters
APP_SERVICES = ("migrate", "web", "worker", "beat")  # built from deploy/Dockerfile


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys keep their case
    parser.read(UNITS / name)
    return parser


def _exec_start(name: str) -> list[str]:
    return shlex.split(_unit(name)["Service"]["ExecStart"])


# -- what a command runs ------------------------------------------------------------------------
def _newsletter(argv: list[str]) -> str:
    """The subcommand ``argv`` (after ``newsletter``) names, parsed by the real click group:
    ``UsageError`` when it does not exist or does not take those arguments."""
    command: click.Command = cli
    names: list[str] = []
    rest = list(argv)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        names.append(rest.pop(0))
        command = command.commands[names[-1]]
    assert not isinstance(command, click.Group), f"newsletter {' '.join(argv)}: not a command"
    command.make_context(names[-1], rest)
    return " ".join(names)


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment for the commands' own checks: settings on a migrated SQLite database."""
    folder = tmp_path_factory.mktemp("commands")
    settings = Settings(database_url=f"sqlite:///{folder / 'app.db'}", data_dir=folder)
    engine = make_engine(settings)
    upgrade(engine)
    engine.dispose()
    return clean_environ(**settings.as_environ())


def _help_accepts(program: str, argv: list[str], env: dict[str, str]) -> None:
    """``program argv --help`` exits 0: click parses every option before it answers --help,
    so an option the program does not have fails here."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / program), *argv, "--help"],
        cwd=ROOT,  # celery -A worker imports worker.py from here, as the units' checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{program} {' '.join(argv)}:\n{done.stderr[-2000:]}"


def _gunicorn_loads(argv: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """``gunicorn argv --check-config`` exits 0: the options parse and the app factory,
    called as gunicorn calls it, builds the app from the environment."""
    argv = [a if a != "/run/newsletter-web/gunicorn.ctl" else str(tmp_path / "g.ctl") for a in argv]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), *argv, "--check-config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"gunicorn {' '.join(argv)}:\n{done.stderr[-3000:]}"


def _systemd_specifiers(argv: list[str]) -> list[str]:
    """What systemd makes of ``%i`` (the instance), ``%H`` (the host) and ``%%``."""
    values = {"%i": "1", "%H": "host.example", "%%": "%"}
    return [re.sub(r"%[iH%]", lambda m: values[m.group(0)], a) for a in argv]


# -- compose.yaml ---------------------------------------------------------------------------------
def test_the_trial_has_every_service() -> None:
    assert set(_services()) == {"postgres", "redis", "mailpit", "migrate", "web", "worker", "beat"}
    assert _services()["worker"]["deploy"]["replicas"] == 2
    assert _compose()["volumes"].keys() == {"postgres-data", "redis-data"}


def test_redis_keeps_queued_work() -> None:
    redis = _services()["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert flags == {"--appendonly": "yes", "--maxmemory-policy": "noeviction"}
    assert "redis-data:/data" in redis["volumes"]


def test_mailpit_catches_the_mail_and_shows_it_on_8025() -> None:
    mailpit = _services()["mailpit"]
    assert mailpit["image"].split(":")[0] == "axllent/mailpit"
    assert "127.0.0.1:8025:8025" in mailpit["ports"]
    settings = Settings.from_mapping(_compose_settings())
    assert settings.smtp is not None and (settings.smtp.host, settings.smtp.port) == (
        "mailpit",
        1025,  # Mailpit's SMTP port
    )


def _compose_settings(service: str = "web") -> dict[str, str]:
    """A service's environment, the secret the operator exports filled in."""
    env = {k: str(v) for k, v in _services()[service]["environment"].items()}
    assert env["NEWSLETTER_SECRET_KEY"].startswith("${NEWSLETTER_SECRET_KEY:?")
    return {**env, "NEWSLETTER_SECRET_KEY": KEY}


def test_every_app_service_has_the_same_settings_and_they_are_valid() -> None:
    services = _services()
    first = services[APP_SERVICES[0]]["environment"]
    for name in APP_SERVICES:
        assert services[name]["environment"] == first, name
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert all(key.startswith("NEWSLETTER_") for key in services[name]["environment"])
    settings = Settings.from_mapping(_compose_settings())
    # the hosts are the services of this file
    assert "@postgres:5432/" in settings.database_url
    assert settings.broker_url == "redis://redis:6379/0"
    assert settings.limiter_url == settings.broker_url  # the send rate is shared there
    postgres = services["postgres"]["environment"]
    user, password, db = (
        postgres[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
    )
    assert settings.database_url.endswith(f"//{user}:{password}@postgres:5432/{db}")
    assert "127.0.0.1:8000:8000" in services["web"]["ports"]
    assert settings.base_url == "http://127.0.0.1:8000"  # the port the web app is published on


def test_the_migration_runs_first_and_everything_else_waits_for_it() -> None:
    services = _services()
    assert _newsletter(services["migrate"]["command"][1:]) == "db upgrade"
    assert services["migrate"]["command"][0] == "newsletter"
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("web", "worker", "beat"):
        waits = services[name]["depends_on"]
        assert waits["migrate"] == {"condition": "service_completed_successfully"}, name
        assert waits["redis"] == {"condition": "service_healthy"}, name


def test_the_compose_commands_are_real(app_env: dict[str, str], tmp_path: Path) -> None:
    services = _services()
    worker, beat, web = (services[n]["command"] for n in ("worker", "beat", "web"))
    assert worker[:4] == ["celery", "-A", "worker", "worker"]
    assert worker[worker.index("-Q") + 1] == "newsletter" and "--pool=solo" in worker
    assert services["worker"]["stop_signal"] == "SIGTERM"
    assert beat[:4] == ["celery", "-A", "worker", "beat"]
    assert web[0] == "gunicorn" and web[-1] == FACTORY
    _help_accepts("celery", worker[1:], app_env)
    _help_accepts("celery", beat[1:], app_env)
    _gunicorn_loads(web[1:], app_env, tmp_path)


# -- the Dockerfile -------------------------------------------------------------------------------
def test_the_image_has_what_the_commands_need() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = re.sub(r"\\\n\s*", " ", text)  # continuation lines joined
    assert re.search(r"^WORKDIR /app$", instructions, re.M)
    copied = re.findall(r"^COPY (.+) \S+$", instructions, re.M)
    assert {"worker.py", "newsletter", "templates", "pyproject.toml"} <= {
        name for line in copied for name in line.split()
    }  # worker.py: what `celery -A worker` imports from the working directory
    extras = re.search(r"pip install '\.\[([a-z,]+)\]'", instructions)
    assert extras is not None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(extras.group(1).split(",")) == {"postgres", "web"}
    assert set(extras.group(1).split(",")) <= set(project["optional-dependencies"])
    assert any(d.startswith("gunicorn") for d in project["optional-dependencies"]["web"])
    user = re.findall(r"^USER (\S+)$", instructions, re.M)
    assert user == ["newsletter"]  # the processes never run as root
    cmd = re.search(r"^CMD (\[.*\])$", instructions, re.M)
    assert cmd is not None and yaml.safe_load(cmd.group(1)) == _services()["web"]["command"]
    patterns = [
        line
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything out, then back in what COPY takes
    assert {"!worker.py", "!newsletter", "!templates", "!pyproject.toml"} <= set(patterns)


# -- the systemd units ----------------------------------------------------------------------------
LONG_RUNNING = ("newsletter-web.service", "newsletter-worker@.service", "newsletter-beat.service")
ONE_SHOT = ("newsletter-migrate.service", "newsletter-bounces.service")


@pytest.mark.parametrize("name", LONG_RUNNING + ONE_SHOT)
def test_every_unit_runs_hardened_as_the_service_user_with_the_shared_settings(name: str) -> None:
    service = _unit(name)["Service"]
    assert service["User"] == service["Group"] == "newsletter"
    assert service["EnvironmentFile"] == "/etc/newsletter/newsletter.env"
    assert service["WorkingDirectory"] == "/opt/newsletter/app"  # where worker.py is
    assert service["StateDirectory"] == "newsletter"  # NEWSLETTER_DATA_DIR
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, (name, key)
    assert _exec_start(name)[0].startswith(VENV), name


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_units_restart_and_stop_gracefully(name: str) -> None:
    unit = _unit(name)
    service = unit["Service"]
    assert service["Restart"] == "always"
    assert service["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "newsletter-migrate.service" in unit["Unit"]["After"].split()


def test_a_worker_is_given_time_for_a_warm_shutdown() -> None:
    """A warm shutdown finishes the message in flight; a stalled one may take ten SMTP
    timeouts (30 s by default) plus a lease: systemd must not SIGKILL before that."""
    settings = Settings()
    assert settings.smtp_url is None  # the SMTP default timeout is the parser's: 30 s
    stall = settings.delivery_lease + 10 * 30
    service = _unit("newsletter-worker@.service")["Service"]
    assert int(service["TimeoutStopSec"]) > stall
    assert service["KillMode"] == "mixed"  # the worker alone gets SIGTERM, as Celery wants


def test_the_unit_commands_are_real(app_env: dict[str, str], tmp_path: Path) -> None:
    worker = _systemd_specifiers(_exec_start("newsletter-worker@.service"))
    assert worker[0] == VENV + "celery" and worker[1:5] == ["-A", "worker", "worker", "-Q"]
    assert worker[worker.index("-n") + 1] == "worker1@host.example"  # unique per instance
    _help_accepts("celery", worker[1:], app_env)
    beat = _exec_start("newsletter-beat.service")
    assert beat[0] == VENV + "celery" and beat[1:4] == ["-A", "worker", "beat"]
    assert beat[beat.index("--schedule") + 1].startswith("/var/lib/newsletter/")  # writable
    _help_accepts("celery", beat[1:], app_env)
    web = _exec_start("newsletter-web.service")
    assert web[0] == VENV + "gunicorn" and web[-1] == FACTORY
    _gunicorn_loads(web[1:], app_env, tmp_path)
    migrate, bounces = _exec_start(ONE_SHOT[0]), _exec_start(ONE_SHOT[1])
    assert migrate[0] == bounces[0] == VENV + "newsletter"
    assert _newsletter(migrate[1:]) == "db upgrade"
    assert _newsletter(bounces[1:]) == "bounces process"
    timer = _unit("newsletter-bounces.timer")
    assert timer["Timer"]["OnCalendar"] == "*:0/10"


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on copies whose programs are this virtualenv's."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    bin_dir = str(Path(sys.executable).parent) + "/"
    for unit in UNITS.iterdir():
        name = unit.name.replace("@.", "@1.")
        (tmp_path / name).write_text(unit.read_text().replace(VENV, bin_dir))
    for copy in sorted(tmp_path.iterdir()):
        done = subprocess.run(
            [analyze, "verify", "--man=no", str(copy)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and not done.stderr.strip(), (copy.name, done.stderr)


# -- the environment file -------------------------------------------------------------------------
def test_the_environment_file_names_every_setting_and_each_example_is_valid(
    tmp_path: Path,
) -> None:
    path = DEPLOY / "newsletter.env.example"
    text = path.read_text()
    for item in fields(Settings):
        assert re.search(rf"^#?{variable_of(item)}=", text, re.M), variable_of(item)
    named = re.findall(r"^#?(NEWSLETTER_[A-Z0-9_]+)=", text, re.M)
    assert len(named) == len(set(named)) == len(fields(Settings))  # each once, none unknown
    required = read_dotenv(path)
    for variable in ("DATABASE_URL", "BROKER_URL", "SECRET_KEY", "SMTP_URL", "BASE_URL", "FROM"):
        assert "NEWSLETTER_" + variable in required
    settings = Settings.from_mapping(required)
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.base_url.startswith("https://")
    # every commented example is a valid value too
    uncommented = tmp_path / "all.env"
    uncommented.write_text(re.sub(r"^#(NEWSLETTER_)", r"\1", text, flags=re.M))
    Settings.from_mapping(read_dotenv(uncommented))


def test_the_command_line_wrapper_reads_the_same_file_and_the_command_line_wins(
    tmp_path: Path,
) -> None:
    """deploy/bin/newsletter (on a copy that points at this virtualenv and a file here): the
    settings come from the environment file, and a variable given to the one command wins,
    which is how the DKIM guide prints the record of a key not switched to yet."""
    keys = {name: tmp_path / f"{name}.pem" for name in ("news2026", "news2027")}
    for path in keys.values():
        new_key(path)
    env_file = tmp_path / "newsletter.env"
    env_file.write_text(
        'NEWSLETTER_FROM="Digest <digest@mail.example.net>"\n'
        "NEWSLETTER_DKIM_SELECTOR=news2026\n"
        f"NEWSLETTER_DKIM_PRIVATE_KEY={keys['news2026']}\n"
    )
    wrapper = (DEPLOY / "bin" / "newsletter").read_text()
    assert wrapper.count("/opt/newsletter/venv/bin/python") == 1
    assert wrapper.count("/etc/newsletter/newsletter.env") >= 1
    copy = tmp_path / "newsletter"
    copy.write_text(
        wrapper.replace("/opt/newsletter/venv/bin/python", sys.executable).replace(
            "/etc/newsletter/newsletter.env", str(env_file)
        )
    )
    copy.chmod(0o755)

    def record(**overrides: str) -> str:
        done = subprocess.run(
            [str(copy), "dkim", "record"],
            cwd=tmp_path,
            env=clean_environ(**overrides),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert record().startswith("news2026._domainkey.mail.example.net. IN TXT (")
    switched = record(
        NEWSLETTER_DKIM_SELECTOR="news2027", NEWSLETTER_DKIM_PRIVATE_KEY=str(keys["news2027"])
    )
    assert switched.startswith("news2027._domainkey.mail.example.net. IN TXT (")


def test_a_folder_the_user_may_not_enter_is_no_reason_to_fail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``sudo -u newsletter newsletter ...`` from /root: looking for ./.env there is refused
    (EACCES), which means no .env, not a traceback."""

    def refused(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", refused)
    settings = Settings.from_env({"NEWSLETTER_SITE_NAME": "Here"}, dotenv=tmp_path / ".env")
    assert settings.site_name == "Here"


def _commands_in(text: str) -> list[list[str]]:
    """Every ``newsletter COMMAND ...`` in the code of a Markdown text (spans and blocks), as
    arguments; ``ID`` stands for an issue id, ``a|b|c`` for three commands."""
    blocks = re.findall(r"```.*?```", text, re.S)
    prose = re.sub(r"\s*\n\s*", " ", re.sub(r"```.*?```", "", text, flags=re.S))
    spans = re.findall(r"`[^`]+`", prose)  # a span may run over a line end: a space
    found: list[list[str]] = []
    for chunk in blocks + spans:
        for line in chunk.strip("`").replace("\\\n", " ").splitlines():
            for match in re.finditer(r"(?<![\w/-])newsletter (?=([a-z][^;#)`]*))", line):
                words = match.group(1).split()
                if words[0] not in cli.commands:
                    continue  # "sudo -u newsletter newsletter ...": the user's name
                for choice in words[1].split("|") if len(words) > 1 else [""]:
                    argv = [words[0], *([choice] if choice else []), *words[2:]]
                    found.append(["1" if a == "ID" else a for a in argv])
    return found


def test_every_command_the_operators_guide_names_exists() -> None:
    commands = _commands_in((ROOT / "docs" / "operations.md").read_text())
    assert len(commands) > 20
    named = set()
    for argv in commands:  # each one parsed by the real group
        try:
            named.add(_newsletter(argv))
        except click.MissingParameter:  # named in prose without its arguments
            group = cli.commands[argv[0]]
            assert isinstance(group, click.Group) and argv[1] in group.commands, argv
            assert len(argv) == 2, argv
            named.add(" ".join(argv))
    assert {"issue status", "issue resume", "dkim record", "users add", "dkim keygen"} <= named
