"""Configuration from the TOML file and RECADO_* variables, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Config, ConfigError, load_config


def test_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    config = load_config(data_dir=tmp_path, environ={})
    assert config.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'recado.sqlite3'}"
    assert config.programme_timezone == "America/Mexico_City"


def test_toml_then_environment_then_options(tmp_path: Path) -> None:
    (tmp_path / "recado.toml").write_text(
        '[server]\nport = 9000\nhost = "0.0.0.0"\nprogramme_timezone = "America/Tijuana"\n'
    )
    config = load_config(data_dir=tmp_path, environ={"RECADO_PORT": "9100"}, host="127.0.0.2")
    assert (config.port, config.host, config.programme_timezone) == (9100, "127.0.0.2", "America/Tijuana")


def test_data_dir_from_environment(tmp_path: Path) -> None:
    config = load_config(environ={"RECADO_DATA_DIR": str(tmp_path)})
    assert config.data_dir == tmp_path


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("port = 'eighty'", "port"),
        ("colour = 'blue'", "unknown setting 'colour'"),
        ("anonymous_flows = 'Califica'", "'anonymous_flows' was removed: mark each anonymous flow"),
        ("programme_timezone = 'Mars/Olympus'", "programme_timezone"),
        ("port = [", "recado.toml"),
        ("database_url = 'mysql://x'", "database_url"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "recado.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_config(data_dir=tmp_path, environ={})


def test_the_documented_example_loads_and_names_every_setting(tmp_path: Path) -> None:
    """docs/recado.example.toml is what operators copy: it must load, and leave no setting undocumented."""
    import dataclasses
    import re

    example = Path(__file__).resolve().parents[2] / "docs" / "recado.example.toml"
    config = load_config(data_dir=tmp_path, config_file=example, environ={}).validate()
    assert config.port == 8080
    text = example.read_text(encoding="utf-8")
    documented = set(re.findall(r"^([a-z_]+) = ", text, re.M))
    assert {f.name for f in dataclasses.fields(Config)} - {"data_dir"} <= documented


def test_opt_out_settings_by_language_from_toml_and_environment(tmp_path: Path) -> None:
    (tmp_path / "recado.toml").write_text(
        '[server]\nopt_out_keywords = { spa = "BAJA", eng = "STOP" }\n'
        '[server.opt_out_reply]\nspa = "Adiós."\neng = "Bye."\n',
        encoding="utf-8",
    )
    environ = {"RECADO_OPT_OUT_KEYWORDS_ENG": "STOP,UNSUBSCRIBE", "RECADO_OPT_IN_REPLY": "Hola otra vez."}
    config = load_config(data_dir=tmp_path, environ=environ)
    assert config.opt_out_words == {"spa": {"baja"}, "eng": {"stop", "unsubscribe"}}
    assert config.opt_out_reply == {"spa": "Adiós.", "eng": "Bye."}
    assert config.opt_in_reply == {"spa": "Hola otra vez."}  # a plain text is the default language's


def test_a_plain_keyword_text_is_the_default_languages(tmp_path: Path) -> None:
    (tmp_path / "recado.toml").write_text('default_language = "eng"\nopt_in_keywords = "START"\n')
    config = load_config(data_dir=tmp_path, environ={})
    assert config.opt_in_words == {"spa": {"alta"}, "eng": {"start"}}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('opt_out_keywords = { spa = "BAJA", eng = "ALTA" }', "share a word: alta"),
        ('opt_in_keywords = { eng = "STOP" }', "share a word: stop"),
        ('opt_out_keywords = { spanish = "BAJA" }', "ISO 639-3"),
        ('opt_out_reply = { spa = "  " }', r"opt_out_reply.spa: is empty"),
        ("opt_in_reply = { spa = 3 }", "is not a text"),
        ("opt_in_keywords = 3", "opt_in_keywords"),
    ],
)
def test_bad_opt_out_settings_name_the_setting(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "recado.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_config(data_dir=tmp_path, environ={})


def test_opt_out_settings_given_in_code_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="share a word"):
        Config(
            data_dir=tmp_path, opt_out_keywords={"spa": "BAJA"}, opt_in_keywords={"eng": "baja"}
        ).validate()
