"""login_delay, expire, monitors and xtnd settings: values and one-line errors."""

from __future__ import annotations

import pytest
import yaml

from pop3d.config import ConfigError, load_config


def load(tmp_path, **settings):
    (tmp_path / "users.yaml").write_text("{}\n")
    config = {"hostname": "h", "users": [{"type": "virtual", "file": "users.yaml"}], **settings}
    path = tmp_path / "pop3d.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(str(path))


def test_defaults(tmp_path):
    config = load(tmp_path)
    assert config.login_delay.seconds is None and not config.login_delay.enabled
    assert (config.expire, config.monitors, config.xtnd.enabled) == ("NEVER", frozenset(), False)
    assert config.xtnd.submit == ("/usr/sbin/sendmail", "-t", "-i")


def test_values(tmp_path):
    config = load(tmp_path, login_delay={"seconds": 300, "policy": "reject", "state_dir": "state",
                                         "users": {"carol": 900}},
                  expire=0, monitors=["haproxy"],
                  xtnd={"enabled": True, "submit": "/usr/lib/sendmail -t -i -oi", "max_message": 2048})
    assert config.login_delay.seconds == 300 and config.login_delay.policy == "reject"
    assert config.login_delay.state_dir == str(tmp_path / "state")
    assert config.login_delay.users == {"carol": 900}
    assert (config.expire, config.monitors) == ("0", frozenset({"haproxy"}))
    assert config.xtnd.submit == ("/usr/lib/sendmail", "-t", "-i", "-oi")
    assert config.xtnd.max_message == 2048


@pytest.mark.parametrize("settings, key", [
    ({"login_delay": {"seconds": -1}}, "login_delay.seconds"),
    ({"login_delay": {"seconds": 60, "policy": "drop"}}, "login_delay.policy"),
    ({"login_delay": {"users": {"carol": "soon"}}}, "login_delay.users.carol"),
    ({"login_delay": {"second": 60}}, "login_delay.second"),
    ({"expire": "sometimes"}, "expire"),
    ({"expire": -2}, "expire"),
    ({"monitors": [""]}, "monitors[0]"),
    ({"xtnd": {"submit": "sendmail -t"}}, "xtnd.submit"),
    ({"xtnd": {"submit": []}}, "xtnd.submit"),
    ({"xtnd": {"max_message": 10}}, "xtnd.max_message"),
    ({"xtnd": {"enabled": "yes"}}, "xtnd.enabled"),
    ({"xtnd": {"from_policy": "rewrite"}}, "xtnd.from_policy"),
    ({"xtnd": {"max_recipients": 0}}, "xtnd.max_recipients"),
    ({"xtnd": {"run_as": "no-such-user-p3t"}}, "xtnd.run_as"),
    ({"xtnd": {"run_as": "root"}}, "xtnd.run_as"),
])
def test_errors_name_the_key(tmp_path, settings, key):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, **settings)
    assert err.value.key == key


def test_state_dir_is_shared_unless_login_delay_names_its_own(tmp_path):
    config = load(tmp_path)
    assert config.state_dir == "/var/lib/pop3d" == config.login_delay.state_dir
    config = load(tmp_path, state_dir="var", login_delay={"seconds": 60}, expire=7)
    assert config.state_dir == str(tmp_path / "var") == config.login_delay.state_dir
    assert config.expire == "7"
    config = load(tmp_path, state_dir="var", login_delay={"seconds": 60, "state_dir": "other"})
    assert config.login_delay.state_dir == str(tmp_path / "other")


def test_workers(tmp_path):
    import os

    assert load(tmp_path).workers == 1
    assert load(tmp_path, workers=3).workers == 3
    assert load(tmp_path, workers="auto").workers == (os.cpu_count() or 1)
    for bad, message in ((0, "workers: must be at least 1"), ("many", "workers: must be a number of "
                                                                       "processes \\(1 to 256\\) or auto")):
        with pytest.raises(ConfigError, match=message):
            load(tmp_path, workers=bad)
