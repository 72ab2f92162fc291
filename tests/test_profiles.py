"""The deployment profile is read from the environment when a refresh starts; a setting it cannot use is refused
naming the variable."""

import re

import pytest

from orchestration.profiles import Profile, ProfileError, current

pytestmark = pytest.mark.unit


def test_local_is_the_default_and_runs_in_process(monkeypatch):
    monkeypatch.delenv("SAFETYWASH_PROFILE", raising=False)
    assert current() == Profile("local")
    assert current().run_config() == {"execution": {"config": {"in_process": {}}}}


def test_distributed_reads_its_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFETYWASH_PROFILE", "distributed")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("SAFETYWASH_CELERY_BROKER", "redis://broker:6379/1")
    monkeypatch.setenv("SAFETYWASH_OBJECTS", "s3://bucket/prefix")
    monkeypatch.setenv("SAFETYWASH_WORKER_TIMEOUT", "12.5")
    profile = current()
    assert (profile.broker, profile.backend, profile.worker_timeout) == (
        "redis://broker:6379/1",
        "redis://broker:6379/1",
        12.5,
    )
    config = profile.run_config()
    assert config["execution"] == {
        "config": {"celery": {"broker": "redis://broker:6379/1", "backend": "redis://broker:6379/1"}}
    }
    assert config["resources"]["io_manager"]["config"]["access_key"] == {"env": "AWS_ACCESS_KEY_ID"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAFETYWASH_PROFILE": "cluster"}, "SAFETYWASH_PROFILE='cluster': expected one of local, distributed"),
        ({"SAFETYWASH_PROFILE": "distributed"}, "needs DAGSTER_HOME"),
        (
            {"SAFETYWASH_PROFILE": "distributed", "DAGSTER_HOME": "/srv", "SAFETYWASH_WORKER_TIMEOUT": "a minute"},
            "SAFETYWASH_WORKER_TIMEOUT='a minute': expected seconds, a number",
        ),
        (
            {"SAFETYWASH_PROFILE": "distributed", "DAGSTER_HOME": "/srv", "SAFETYWASH_WORKER_TIMEOUT": "0"},
            "SAFETYWASH_WORKER_TIMEOUT='0': expected seconds above 0",
        ),
    ],
)
def test_a_setting_it_cannot_use_is_refused_naming_the_variable(monkeypatch, env, message):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ProfileError, match=re.escape(message)):
        current()
