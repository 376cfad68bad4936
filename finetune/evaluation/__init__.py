"""Evaluation of a model's replies on conversation rows, with no Django.

    values      a payload's leaf values, and which of them a reply invented (KnownValues)
    scoring     one reply against its reference (score_case), and the metrics (summarise)
    generation  the replies themselves, from any serving backend (evaluate_rows)
    parity      the same adapter in peft and in vLLM: do they write the same text?
    chart       the comparison's bar chart as inline SVG

Nothing is re-exported here: each name has one import path, its module's. The Django app
around this (finetune.eval_runs) stores runs; tests/finetune/test_cores.py checks that no
module here imports Django.
"""
