"""Settings an operator writes (issue 10, item 7): typos are named, check-config is strict and
reaches the directory, every command takes --config, unknown flags are named."""
import uuid as uuidlib

from helpers import BIN, SERVICE_DN, SERVICE_PW_FILE, URI, free_port


def conf(tmp_path, text):
    path = tmp_path / "nova-dirsvc.conf"
    path.write_text(text)
    return str(path)


def good(tool, **overrides):
    settings = {"uri": URI, "bind_dn": SERVICE_DN, "password_file": SERVICE_PW_FILE, "base_dn": tool.base_dn,
                "spool_dir": str(tool.spool_dir), "log_file": str(tool.log_file)}
    settings.update(overrides)
    return "[ldap]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())


def test_a_typo_in_the_file_is_named_with_the_nearest_key(tool, tmp_path):
    path = conf(tmp_path, good(tool) + "timout = 3\n[ldpa]\nuri = ldap://nowhere\n")
    proc = tool.run("show", "--instance-uuid", str(uuidlib.uuid4()), "--config", path, connection=False)
    assert proc.returncode == 1, proc.stderr  # works, not registered; the typos are warned about
    assert 'unknown key "timout" in [ldap], ignored (did you mean "timeout"?)' in proc.stderr
    assert "unknown section [ldpa], ignored (did you mean [ldap]?)" in proc.stderr


def test_check_config_is_strict_and_reaches_the_directory(tool, tmp_path):
    proc = tool.run("check-config", "--config", conf(tmp_path, good(tool)), connection=False)
    assert proc.returncode == 0, proc.stderr
    assert f"directory: {URI} as dn: {SERVICE_DN.lower()}" in proc.stdout.lower()
    proc = tool.run("check-config", "--config", conf(tmp_path, good(tool) + "timout = 3\n"), connection=False)
    assert proc.returncode == 64 and "timout" in proc.stderr, proc.stderr
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("nope\n")
    wrong.chmod(0o600)
    proc = tool.run("check-config", "--config", conf(tmp_path, good(tool, password_file=wrong)), connection=False)
    assert proc.returncode == 77, proc.stderr
    proc = tool.run("check-config", "--config", conf(tmp_path, good(tool, uri=f"ldap://127.0.0.1:{free_port()}")),
                    connection=False)
    assert proc.returncode == 69, proc.stderr
    proc = tool.run("check-config", "--config", conf(tmp_path, good(tool, base_dn=f"ou=nowhere,{tool.base_dn}")),
                    connection=False)
    assert proc.returncode == 64 and "does not exist" in proc.stderr, proc.stderr
    assert not tool.log_file.exists()  # it wrote nothing


def test_unknown_flags_are_named_first(tool):
    proc = tool.run("register", "--timout", "3", "--instance-uuid", "x", connection=False)
    assert proc.returncode == 64
    assert "Unknown option '--timout'" in proc.stderr and "--timeout" in proc.stderr


def test_files_that_cannot_be_read_say_why(tool, tmp_path):
    proc = tool.run("show", "--instance-uuid", str(uuidlib.uuid4()), "--config", str(tmp_path / "missing.conf"),
                    connection=False)
    assert proc.returncode == 64 and "does not exist" in proc.stderr, proc.stderr
    proc = tool.run("show", "--instance-uuid", str(uuidlib.uuid4()), password_file=str(tmp_path))
    assert proc.returncode == 64 and "not a regular file" in proc.stderr, proc.stderr
    proc = tool.run("show", "--instance-uuid", str(uuidlib.uuid4()), timeout="0")
    assert proc.returncode == 64 and "more than 0 and at most 3600" in proc.stderr, proc.stderr


def test_schema_takes_config_like_every_command(tool, tmp_path):
    proc = tool.run("schema", "--config", conf(tmp_path, good(tool)), connection=False)
    assert proc.returncode == 0 and "novaInstance" in proc.stdout, proc.stderr


def test_server_timings_are_checked(tool, tmp_path):
    for key in ("server_backoff", "failback_settle"):
        proc = tool.run("check-config", "--config", conf(tmp_path, good(tool, **{key: "-1"})), connection=False)
        assert proc.returncode == 64 and key in proc.stderr and "number of seconds" in proc.stderr, proc.stderr
