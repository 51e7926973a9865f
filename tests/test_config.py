"""The till's TOML configuration: defaults, a good file, bad values named by their key."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from pos_returns import config
from pos_returns.config import PolicyConfig, TillConfig, load_config, parse_config
from pos_returns.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "till.example.toml"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("POS_RETURNS_CONFIG", raising=False)


def names(key: str, message: str) -> bool:
    """The message names exactly this key (quoted « key » in French, “key” in English)."""
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", message) is not None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "till.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path):
    cfg = load_config(tmp_path / "absent.toml")
    assert cfg == TillConfig()
    assert (cfg.store_id, cfg.till_no, cfg.language) == (1, 1, "fr")
    assert cfg.cache_path == tmp_path / "home" / ".local/share/alamara-retours/cache.sqlite"
    assert cfg.policy.cash_refund_ceiling == 100_000
    assert cfg.policy.restocking_fee_bp == {}


def test_default_locations_follow_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    assert TillConfig().cache_path == tmp_path / "data" / "alamara-retours" / "cache.sqlite"
    assert config.default_config_path() == tmp_path / "conf" / "alamara-retours" / "till.toml"
    monkeypatch.setenv("POS_RETURNS_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert config.default_config_path() == tmp_path / "elsewhere.toml"


def test_a_good_file(tmp_path):
    path = write(tmp_path, """
store_id = 4
till_no = 2
language = "en"
cache_path = "data/cache.sqlite"
printer_queue = "caisse-2"
hq_dsn = "postgresql://till@hq/alamara"
idle_lock_seconds = 0

[policy]
cash_refund_ceiling = 50000
no_receipt_warn_count = 1

[policy.restocking_fee_bp]
shoes = 500
""")
    cfg = load_config(path)
    assert (cfg.store_id, cfg.till_no, cfg.language) == (4, 2, "en")
    assert cfg.cache_path == tmp_path / "data" / "cache.sqlite"  # relative to the file
    assert cfg.printer_queue == "caisse-2" and cfg.idle_lock_seconds == 0
    assert cfg.policy.cash_refund_ceiling == 50_000
    assert cfg.policy.no_receipt_warn_count == 1
    assert cfg.policy.restocking_fee_bp == {"shoes": 500}
    assert cfg.policy.no_receipt_refuse_count == PolicyConfig().no_receipt_refuse_count
    assert cfg.with_cache("/tmp/x.sqlite").cache_path == Path("/tmp/x.sqlite")


@pytest.mark.parametrize(("text", "key"), [
    ('till_no = "x"', "till_no"),
    ("till_no = 0", "till_no"),
    ("till_no = 100", "till_no"),
    ("till_no = 1.5", "till_no"),
    ("till_no = true", "till_no"),
    ("store_id = 1000", "store_id"),
    ("store_id = -3", "store_id"),
    ('language = "de"', "language"),
    ("language = 1", "language"),
    ('cache_path = ""', "cache_path"),
    ("cache_path = 3", "cache_path"),
    ("idle_lock_seconds = -1", "idle_lock_seconds"),
    ("printer_queue = 12", "printer_queue"),
    ('policy = "strict"', "policy"),
    ("[policy]\ncash_refund_ceiling = -1", "policy.cash_refund_ceiling"),
    ('[policy]\nid_retention_months = "13"', "policy.id_retention_months"),
    ("[policy]\nrestocking_fee_bp = 5", "policy.restocking_fee_bp"),
    ("[policy.restocking_fee_bp]\nshoes = 9000", "policy.restocking_fee_bp.shoes"),
    ("[policy]\nno_receipt_manager_count = 9", "policy.no_receipt_manager_count"),
])
def test_a_bad_value_names_its_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert names(key, str(err.value)), str(err.value)


@pytest.mark.parametrize(("text", "key"), [
    ("tillno = 2", "tillno"),
    ("[policy]\ncash_ceiling = 1", "policy.cash_ceiling"),
    ("[printer]\nqueue = 'x'", "printer"),
])
def test_an_unknown_key_is_named(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert names(key, str(err.value)), str(err.value)
    assert "inconnue" in str(err.value)  # in French by default


def test_invalid_toml_says_which_file(tmp_path):
    path = write(tmp_path, "till_no = = 2")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_the_documented_example_is_the_defaults():
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert parse_config(data, base_dir=EXAMPLE.parent) == TillConfig()


def test_the_documented_example_names_every_key_with_a_comment():
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = [f.name for f in dataclasses.fields(TillConfig) if f.name != "policy"]
    keys += [f.name for f in dataclasses.fields(PolicyConfig)]
    lines = text.splitlines()
    for key in keys:
        pattern = re.compile(rf"^(\[policy\.)?{key}\b")
        idx = [i for i, line in enumerate(lines) if pattern.match(line)]
        assert idx, f"{key} is not in docs/till.example.toml"
        assert lines[idx[0] - 1].startswith("#"), f"{key} has no comment above it"
