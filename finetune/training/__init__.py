"""LoRA fine-tuning, with no Django: what a job runs, and what the web process checks first.

    config    TrainConfig: the hyper-parameters, checked in one place (no torch either)
    data      rows to token ids and labels, the preflight view, the order of the steps
    run       run_training: the loop, the model, one step, the adapter it saves
    checkpoints  save, find and load checkpoints; a run resumes from the newest
    parallel  one process per core, each step's rows shared out (Group, Command)
    worker    the helper process `python -m finetune.training.worker` that parallel starts

Nothing is re-exported here: each name has one import path, its module's. The Django app
around this (finetune.jobs) maps progress onto rows; tests/finetune/test_cores.py checks
that no module here imports Django.
"""
