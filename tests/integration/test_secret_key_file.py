"""The secret `leadflow up` keeps in its data folder, and the `leadflow secret-key` command."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services.runtime.secrets import (
    MIN_SECRET_LENGTH,
    SECRET_KEY_SECRET,
    SECRET_KEY_SECRET_KEY,
    SecretKeyInvalid,
    Secrets,
    load_or_create_secret_key,
)


def test_the_secret_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret-key"
    first = load_or_create_secret_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first + "\n"
    assert load_or_create_secret_key(path) == first
    Secrets.from_value(first)


def test_a_secret_file_readable_by_others_is_made_private_again(tmp_path: Path) -> None:
    path = tmp_path / "secret-key"
    kept = load_or_create_secret_key(path)
    path.chmod(0o644)
    assert load_or_create_secret_key(path) == kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_listing_a_rotation_is_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "secret-key"
    value = f"{'n' * MIN_SECRET_LENGTH},{'o' * MIN_SECRET_LENGTH}"
    path.write_text(value + "\n")
    assert load_or_create_secret_key(path) == value


@pytest.mark.parametrize("text", ["", "short\n", f"{'n' * MIN_SECRET_LENGTH},\n"])
def test_an_unusable_secret_file_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "secret-key"
    path.write_text(text)
    with pytest.raises(SecretKeyInvalid, match=str(path)):
        load_or_create_secret_key(path)
    assert path.read_text() == text, (
        "an unusable file is never replaced: data encrypted under it would be lost"
    )


def leadflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_command_prints_a_new_key_each_time() -> None:
    first, second = leadflow("secret-key"), leadflow("secret-key")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout != second.stdout
    Secrets.from_value(first.stdout.strip())


def test_the_command_prints_the_kubernetes_secret_of_the_key_it_keeps(tmp_path: Path) -> None:
    path = tmp_path / "secret-key.txt"
    printed = leadflow("secret-key", "--kubernetes", "--file", str(path), "--namespace", "crm")
    assert printed.returncode == 0, printed.stderr
    doc = yaml.safe_load(printed.stdout)
    assert (doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"]) == (
        "Secret",
        SECRET_KEY_SECRET,
        "crm",
    )
    assert doc["stringData"] == {SECRET_KEY_SECRET_KEY: path.read_text().strip()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = leadflow("secret-key", "--kubernetes", "--file", str(path), "--namespace", "crm")
    assert again.stdout == printed.stdout


def test_the_command_refuses_an_unusable_file_in_words(tmp_path: Path) -> None:
    path = tmp_path / "secret-key.txt"
    path.write_text("short\n")
    refused = leadflow("secret-key", "--file", str(path))
    assert refused.returncode == 1
    assert "fewer than 32" in refused.stderr and refused.stdout == ""
