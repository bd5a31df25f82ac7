"""Config loading: barto's seed files, precedence, and errors that name file, line and key."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from barto.config import ConfigError, load_cli, load_server, load_worker, source
from barto.config.common import parse_signal

# The TOML examples of barto's README (seed 001), verbatim, in order of appearance.
EXAMPLES = Path(__file__).parents[1] / "fixtures" / "barto-readme"


def _seed_blocks() -> list[str]:
    return [(EXAMPLES / f"{i}.toml").read_text() for i in range(10)]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_seed_examples_load_as_they_are(tmp_path: Path) -> None:
    """The three full examples of barto's README load, strings like port = "20000" included."""
    blocks = _seed_blocks()
    server = load_server(source("bartos", _write(tmp_path, blocks[0]), {}, {}))
    assert server.actix.port == 20000
    assert server.mariadb is not None
    assert server.mariadb.port == 3307
    assert [s.name for s in server.schedules["barto"].schedules] == ["echo"]
    worker = load_worker(source("bartoc", _write(tmp_path, blocks[6]), {}, {}))
    assert (worker.name, worker.retry_count, worker.bartos.port) == ("vader", 10, 21526)
    cli = load_cli(source("barto-cli", _write(tmp_path, blocks[9]), {}, {}))
    assert cli.name == "vader-cli"
    assert cli.bartos.prefix == "wss"


def test_seed_fragments_load(tmp_path: Path) -> None:
    """The README's TLS and signing fragments load too (bartoc's name then comes from the env)."""
    blocks = _seed_blocks()
    for index in (1, 3, 5):
        load_server(source("bartos", _write(tmp_path, blocks[index]), {}, {}))
    for index in (2, 4, 7):
        assert load_worker(source("bartoc", _write(tmp_path, blocks[index]), {}, {"BARTOC_NAME": "w"})).name == "w"
    load_cli(source("barto-cli", _write(tmp_path, blocks[8]), {}, {}))


def test_precedence_is_flag_then_env_then_file_then_default(tmp_path: Path) -> None:
    """A flag beats an env var, which beats the file, which beats the default."""
    path = _write(tmp_path, 'name = "file"\nverbose = 1\n[bartos]\nport = 1\n')
    env = {"BARTOC_VERBOSE": "2", "bartoc_bartos__host": "example.org"}
    assert load_worker(source("bartoc", path, {}, env)).verbose == 2
    assert load_worker(source("bartoc", path, {"verbose": 3}, env)).verbose == 3
    config = load_worker(source("bartoc", path, {}, env))
    assert (config.bartos.host, config.bartos.port, config.bartos.prefix) == ("example.org", 1, "ws")


def test_nested_env_secret_reaches_its_key(tmp_path: Path) -> None:
    """BARTOS_MARIADB__PASSWORD sets [mariadb] password and is percent-encoded in the URL."""
    path = _write(tmp_path, '[mariadb]\nhost = "db"\nusername = "u@x"\ndatabase = "d"\n')
    config = load_server(source("bartos", path, {}, {"BARTOS_MARIADB__PASSWORD": "p/w:@"}))
    assert config.database_url({}) == "mysql+asyncmy://u%40x:p%2Fw%3A%40@db:3306/d"


@pytest.mark.parametrize(
    ("text", "where", "key", "message"),
    [
        ('[actix]\nport = "x20"\n', ":2", "actix.port", "Expected `int`"),
        ("[actix]\nport = 70000\n", ":2", "actix.port", "<= 65535"),
        ("[actix]\nport = -1\n", ":2", "actix.port", ">= 0"),
        ('[actix]\nip = "not an ip"\n', ":2", "actix.ip", "neither an IP address nor a host name"),
        (
            '[actix.tls]\nip = "::1::2"\nport = 1\ncert_file_path = "c"\nkey_file_path = "k"\n',
            ":2",
            "actix.tls.ip",
            "neither",
        ),
        ('[mariadb]\nhost = "h"\nport = 99999\nusername = "u"\ndatabase = "d"\n', ":3", "mariadb.port", "<= 65535"),
        ("[actix]\nworkers = 1\nprot = 2\n", ":3", "actix.prot", "unknown key"),
        (
            '[schedules.w]\nschedules = [\n  { name = "a", cmds = ["x"], on_calendar = "*-*-* 25:00" },\n]\n',
            ":3",
            "schedules.w.schedules[0].on_calendar",
            "hour 25 out of range",
        ),
        (
            '[schedules.w]\nschedules = [\n { name = "a", cmds = ["x"], cron = "* * * * *" },\n'
            ' { name = "a", cmds = ["y"], cron = "@daily" },\n]\n',
            ":4",
            "schedules.w.schedules[1].name",
            "a second schedule named 'a'",
        ),
        (
            '[schedules.w]\nschedules = [{ name = "a", cmds = ["x"] }]\n',
            ":2",
            "schedules.w.schedules[0].on_calendar",
            "exactly one",
        ),
        (
            '[schedules.w]\nschedules = [{ name = "a", cmds = ["x"], cron = "@daily", max_output_bytes = 0 }]\n',
            ":2",
            "schedules.w.schedules[0].max_output_bytes",
            "must be greater than 0",
        ),
        (
            '[schedules.w]\nschedules = [{ name = "a", cmds = ["x"], cron = "@daily", stopsignal = "TERN" }]\n',
            ":2",
            "schedules.w.schedules[0].stopsignal",
            "unknown signal 'TERN'",
        ),
        (
            '[schedules.w]\nschedules = [{ name = "a", cmds = ["x"], cron = "@daily", catchup = "some" }]\n',
            ":2",
            "schedules.w.schedules[0].catchup",
            "Invalid enum value 'some'",
        ),
        (  # msgspec names a dict value without its key; the loader finds which worker it was
            '[schedules.a]\nschedules = [{ name = "a", cmds = ["x"], cron = "@daily" }]\n'
            '[schedules.b]\nschedules = [{ name = "a", cmds = ["x"], cron = "@daily", catchup = 3 }]\n',
            ":4",
            "schedules.b.schedules[0].catchup",
            "got `int`",
        ),
        ("lost_after_seconds = -1\n", ":1", "lost_after_seconds", "must be greater than 0"),
        ('timezone = "UTC"\nlease_seconds = 0.5\n', ":2", "lease_seconds", "must be at least 1"),
        ('timezone = "Mars/Olympus"\n', ":1", "timezone", "unknown time zone"),
        ("[actix\n", ":1", "", "invalid TOML"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, where: str, key: str, message: str) -> None:
    """Every kind of mistake is reported as file:line: key: message."""
    _assert_located(
        lambda path: load_server(source("bartos", path, {}, {})), _write(tmp_path, text), where, key, message
    )


def test_env_errors_name_the_variable(tmp_path: Path) -> None:
    """A bad value from the environment names the variable instead of a file line."""
    with pytest.raises(ConfigError, match=r"^environment variable BARTOS_ACTIX__PORT: actix\.port: "):
        load_server(source("bartos", _write(tmp_path, ""), {}, {"BARTOS_ACTIX__PORT": "eighty"}))


def test_missing_named_file_is_an_error_but_missing_default_is_not(tmp_path: Path) -> None:
    """-c must point at a file; the XDG default may be absent (defaults apply)."""
    with pytest.raises(ConfigError, match="no such config file"):
        load_cli(source("barto-cli", tmp_path / "absent.toml", {}, {}))
    config = load_cli(source("barto-cli", None, {}, {"XDG_CONFIG_HOME": str(tmp_path)}))
    assert config.bartos.port == 20000


def test_worker_urls_are_checked_and_completed(tmp_path: Path) -> None:
    """Several servers: a bare URL gets the worker path; a wrong scheme names its index."""
    path = _write(tmp_path, 'name = "w"\n[bartos]\nurls = ["ws://a:1", "wss://b:2/", "ws://c:3/custom"]\n')
    config = load_worker(source("bartoc", path, {}, {}))
    assert config.bartos.worker_urls() == ["ws://a:1/v1/ws/worker", "wss://b:2/v1/ws/worker", "ws://c:3/custom"]
    bad = _write(tmp_path, 'name = "w"\n[bartos]\nurls = ["ws://a:1",\n  "http://b:2"]\n')
    with pytest.raises(ConfigError) as caught:
        load_worker(source("bartoc", bad, {}, {}))
    assert str(caught.value).startswith(f"{bad}:4: bartos.urls[1]: expected ws://HOST:PORT")


def test_barto_missed_tick_maps_onto_catch_up_policies(tmp_path: Path) -> None:
    text = (
        "[schedules.w]\nschedules = [\n"
        + "".join(
            f'  {{ name = "{t}", cmds = ["x"], cron = "@daily", missed_tick = "{t}" }},\n'
            for t in ("Skip", "Delay", "Burst")
        )
        + '  { name = "own", cmds = ["x"], cron = "@daily" },\n]\n'
    )
    config = load_server(source("bartos", _write(tmp_path, 'catchup = "none"\n' + text), {}, {}))
    policies = {s.name: s.catchup_policy(config.catchup) for s in config.schedules["w"].schedules}
    assert policies == {"Skip": "none", "Delay": "latest", "Burst": "all", "own": "none"}
    assert config.peer_timeout == 2 * config.heartbeat_seconds


@pytest.mark.parametrize(("value", "number"), [("TERM", 15), ("sigint", 2), ("HUP", 1), (9, 9), ("10", 10)])
def test_stop_signals_by_name_or_number(value: str | int, number: int) -> None:
    assert parse_signal(value) == number


def test_redb_paths_of_barto_launchers_get_an_outbox_beside_them(tmp_path: Path) -> None:
    path = _write(tmp_path, f'name = "w"\nredb_path = "{tmp_path}/bartoc.redb"\n')
    assert load_worker(source("bartoc", path, {}, {})).outbox_path({}) == tmp_path / "bartoc.outbox.sqlite"


def test_the_address_given_to_clients_of_a_standby(tmp_path: Path) -> None:
    """Standbys send clients to the leader's advertise_url, else to where it listens."""

    def own(text: str) -> str:
        return load_server(source("bartos", _write(tmp_path, text), {}, {})).own_url()

    assert own("[actix]\nip = '10.0.0.7'\nport = 8080\n") == "http://10.0.0.7:8080"
    assert own("[actix]\nip = '::1'\nport = 8080\n") == "http://[::1]:8080"
    assert own("[actix]\nip = '0.0.0.0'\n") == f"http://{socket.gethostname()}:20000"
    assert own("advertise_url = 'https://sched.example/'\n") == "https://sched.example"


def test_placeholder_keys_load_but_do_not_serve(tmp_path: Path) -> None:
    """barto's README placeholders load (compatibility) but neither program runs with them
    (barto sent unsigned when its key did not parse)."""
    server = _write(tmp_path, 'signing_key = "base64encodedEd25519PrivateKey..."\n')
    load_server(source("bartos", server, {}, {}))
    with pytest.raises(ConfigError, match=r":1: signing_key: not an Ed25519 key"):
        load_server(source("bartos", server, {}, {}), serving=True)
    worker = _write(tmp_path, 'name = "w"\nserver_public_key = "base64encodedEd25519PublicKey..."\n')
    load_worker(source("bartoc", worker, {}, {}))
    with pytest.raises(ConfigError, match=r":2: server_public_key: not an Ed25519 key"):
        load_worker(source("bartoc", worker, {}, {}), running=True)


def test_secrets_can_come_from_files_named_in_the_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-a-file\n")
    path = _write(tmp_path, f"[mariadb]\nhost = 'db'\nusername = 'barto'\ndatabase = 'b'\npassword_file = '{secret}'\n")
    assert load_server(source("bartos", path, {}, {})).mariadb.password == "s3cret-from-a-file"  # type: ignore[union-attr]
    env = {"BARTOS_API_KEY_FILE": str(secret)}
    assert load_server(source("bartos", _write(tmp_path, ""), {}, env)).api_key == "s3cret-from-a-file"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("api_key = 'x'\napi_key_file = '/etc/hostname'\n", ":2: api_key_file", "give api_key or api_key_file"),
        ("[tokens.ci]\nrole = 'read'\ntoken_file = '/nonexistent/ci'\n", ":3: tokens.ci.token_file", "cannot read"),
    ],
)
def test_a_secret_file_that_clashes_or_is_missing_is_a_located_error(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_server(source("bartos", path, {}, {}))
    assert str(caught.value).startswith(f"{path}{where}")
    assert message in str(caught.value)


PROGRAM = 'name = "w"\n\n\n\n\n[programs.a]\ncmd = "true"\n'


@pytest.mark.parametrize(
    ("extra", "line", "key", "message"),
    [
        (
            'depends_on = ["b"]\n[programs.b]\ncmd = "true"\ndepends_on = ["a"]\n',
            8,
            "programs.a.depends_on",
            "a cycle: a -> b -> a",
        ),
        ('depends_on = ["nope"]\n', 8, "programs.a.depends_on[0]", "no program named 'nope'"),
        ('stopsignal = "BOGUS"\n', 8, "programs.a.stopsignal", "BOGUS"),
        ('stdout_logfile_maxbytes = "5 parsecs"\n', 8, "programs.a.stdout_logfile_maxbytes", "not a size"),
        ("stderr_logfile_backups = -1\n", 8, "programs.a.stderr_logfile_backups", "at least 0"),
        ("numprocs = 0\n", 8, "programs.a.numprocs", "at least 1"),
        ("stdout = '/var/log/%(proces_num)d.log'\n", 8, "programs.a.stdout", "cannot expand 'proces_num'"),
    ],
)
def test_program_errors_name_file_line_and_key(tmp_path: Path, extra: str, line: int, key: str, message: str) -> None:
    path = _write(tmp_path, PROGRAM + extra)
    with pytest.raises(ConfigError) as caught:
        load_worker(source("bartoc", path, {}, {}))
    assert str(caught.value).startswith(f"{path}:{line}: {key}")
    assert message in str(caught.value)


def test_program_log_paths_expand_supervisords_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_LOGS", "/srv/logs")
    text = "[programs.web]\ncmd = 'x'\nnumprocs = 2\nnumprocs_start = 7\n"
    text += "stdout = '/l/%(program_name)s-%(process_num)02d.out'\nstderr = '%(ENV_APP_LOGS)s/%(process_name)s.err'\n"
    config = load_worker(source("bartoc", _write(tmp_path, 'name = "w"\n' + text), {}, {}))
    web = config.programs["web"]
    names = web.process_names("web")
    assert names == [("web_07", 7), ("web_08", 8)]
    assert web.log_paths("web", names[1], tmp_path) == (Path("/l/web-08.out"), Path("/srv/logs/web_08.err"))
    plain = "name = 'w'\n[programs.a]\ncmd = 'x'\nstdout = '/l/50%.log'\n"
    config = load_worker(source("bartoc", _write(tmp_path, plain), {}, {}))
    assert config.programs["a"].log_paths("a", ("a", 0), tmp_path)[0] == Path("/l/50%.log")  # no %(: as written


@pytest.mark.parametrize(
    ("text", "where", "key", "message"),
    [
        ('name = "w"\nretry_count = -1\n', ":2", "retry_count", ">= 0"),
        ('name = "w"\nreplay_window_secs = -5\n', ":2", "replay_window_secs", ">= 1"),
        ('name = "w"\n[bartos]\nport = 65536\n', ":3", "bartos.port", "<= 65535"),
        ('name = "a/b"\n', ":1", "name", "not a valid name"),
        ('name = "w"\n[programs.web]\ncmd = "x\\u0000"\n', ":3", "programs.web.cmd", "NUL"),
        ('name = "w"\n[programs.web]\ncmd = "x"\nuser = "no-such-user-here"\n', ":4", "programs.web.user", "no user"),
        (
            'name = "w"\n[unix_http_server]\nfile = "s"\nchown = "no-such-user-here"\n',
            ":4",
            "unix_http_server.chown",
            "no user",
        ),
        (
            'name = "w"\n[unix_http_server]\nfile = "s"\nchown = "root:no-such-group"\n',
            ":4",
            "unix_http_server.chown",
            "no group",
        ),
    ],
)
def test_worker_config_errors_name_file_line_and_key(
    tmp_path: Path, text: str, where: str, key: str, message: str
) -> None:
    """What would break later (a bind, a retry loop, a spawn) is refused when the config loads."""
    _assert_located(
        lambda path: load_worker(source("bartoc", path, {}, {})), _write(tmp_path, text), where, key, message
    )


def _assert_located(load: Callable[[Path], object], path: Path, where: str, key: str, message: str) -> None:
    """Loading ``path`` fails with ``path<where>: <key>: ...<message>...``."""
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}{where}: {key}"), str(caught.value)
    assert message in str(caught.value), str(caught.value)


def test_users_and_groups_that_exist_are_accepted(tmp_path: Path) -> None:
    text = 'name = "w"\n[programs.web]\ncmd = "x"\nuser = "root"\n[unix_http_server]\nfile = "s"\nchown = "root:root"\n'
    config = load_worker(source("bartoc", _write(tmp_path, text), {}, {}))
    assert config.programs["web"].user == "root"
