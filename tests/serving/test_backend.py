"""The interface's records, errors and the one place that picks a backend."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from serving import backend as backend_module
from serving.backend import (
    AdapterError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ChatMessage,
    Completion,
    Sampling,
    get_backend,
    load_adapter_once,
    register_backend,
    registered_backends,
)
from serving.scripted import ScriptedBackend

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "options",
    [{"temperature": -0.1}, {"max_tokens": 0}, {"top_p": 0}, {"top_p": 1.5}, {"stop": "x"},
     {"stop": ("",)}],
)  # fmt: skip
def test_sampling_refuses_nonsense(options):
    with pytest.raises(ValueError):
        Sampling(**options)


def test_sampling_defaults_to_greedy():
    assert Sampling().greedy and not Sampling(temperature=0.7).greedy


def test_chat_message_checks_its_role_and_round_trips_the_dataset_format():
    with pytest.raises(ValueError):
        ChatMessage(role="tool", content="x")
    line = {"role": "user", "content": "hi", "name": "ignored"}
    assert ChatMessage.from_dict(line).as_dict() == {"role": "user", "content": "hi"}


def test_errors_carry_stable_codes_and_a_message():
    assert issubclass(BackendTimeout, BackendUnavailable)
    assert issubclass(BackendUnavailable, BackendError)
    error = BackendTimeout("slow")
    assert (error.code, error.message, str(error)) == ("backend_timeout", "slow", "slow")


def test_tokens_per_second():
    done = Completion(model="base", prompt_tokens=3, completion_tokens=10, seconds=2.0,
                      first_token_seconds=0.5, finish_reason="stop")  # fmt: skip
    assert done.tokens_per_second == 5.0


def test_get_backend_picks_by_setting_and_keeps_one_instance(settings):
    settings.WEFT_BACKEND = "scripted"
    first = get_backend()
    assert isinstance(first, ScriptedBackend)
    assert get_backend() is first


def test_get_backend_refuses_an_unknown_name(settings):
    settings.WEFT_BACKEND = "llama-server"
    with pytest.raises(ImproperlyConfigured, match=r"'llama-server'.*registered: local, scripted"):
        get_backend()


def test_another_backend_registers_through_the_same_path(settings, monkeypatch):
    monkeypatch.setattr(backend_module, "_REGISTERED", dict(backend_module._REGISTERED))
    register_backend("mock", "serving.scripted:ScriptedBackend")
    assert "mock" in registered_backends()
    settings.WEFT_BACKEND = "mock"
    assert isinstance(get_backend(), ScriptedBackend)
    with pytest.raises(ValueError):
        register_backend("bad", "serving.scripted.ScriptedBackend")


def test_system_check_flags_an_unknown_backend(settings):
    from serving.checks import check_backend

    settings.WEFT_BACKEND = "nope"
    assert [message.id for message in check_backend(None)] == ["serving.E001"]
    settings.WEFT_BACKEND = "scripted"
    assert check_backend(None) == []


def run_probe(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_serving_imports_no_model_stack():
    # The web process imports serving (and picks a backend class) without torch & co.
    run_probe(
        "import sys, serving, serving.backend, serving.prompts, serving.constraints, "
        "serving.scripted, serving.local, serving.model_files, serving.stop_text; "
        "heavy = {'torch', 'transformers', 'xgrammar', 'peft'} & set(sys.modules); "
        "assert not heavy, heavy"
    )


def test_backends_import_no_django():
    run_probe(
        "import sys, serving.backend, serving.prompts, serving.constraints, serving.scripted, "
        "serving.local, serving.model_files; "
        "dj = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
        "assert not dj, dj"
    )


def test_picking_the_local_backend_loads_no_model_stack():
    # What the web process does at start-up: settings, then get_backend(), still no torch.
    run_probe(
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'project.settings'); django.setup(); from django.conf import settings; "
        "settings.WEFT_BACKEND = 'local'; from serving.backend import get_backend; "
        "from serving.local import LocalBackend; assert isinstance(get_backend(), LocalBackend); "
        "heavy = {'torch', 'transformers', 'xgrammar', 'peft'} & set(sys.modules); "
        "assert not heavy, heavy"
    )


class _RacedBackend(ScriptedBackend):
    """Another process loads the adapter between this one's check and its load."""

    def __init__(self, *, loaded_by_other: bool) -> None:
        super().__init__()
        self.loaded_by_other = loaded_by_other
        self.loads = 0

    def load_adapter(self, name, path):
        self.loads += 1
        if self.loaded_by_other:
            super().load_adapter(name, path)
        raise AdapterError(f"The lora adapter {name!r} has already been loaded.")


def test_load_adapter_once_loads_once_and_tolerates_a_concurrent_load_only():
    plain = ScriptedBackend()
    load_adapter_once(plain, "demo-v1", "/adapters/demo")
    load_adapter_once(plain, "demo-v1", "/adapters/other")  # already served: nothing to do
    assert [(m.name, m.path) for m in plain.models()][1:] == [("demo-v1", "/adapters/demo")]
    raced = _RacedBackend(loaded_by_other=True)
    load_adapter_once(raced, "demo-v1", "/adapters/demo")
    assert raced.loads == 1 and "demo-v1" in [m.name for m in raced.models()]
    failed = _RacedBackend(loaded_by_other=False)
    with pytest.raises(AdapterError, match="already been loaded"):
        load_adapter_once(failed, "demo-v1", "/adapters/demo")
