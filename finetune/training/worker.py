"""A helper process of a data-parallel training run (finetune.training.parallel).

    python -m finetune.training.worker SPEC_FILE RANK WORLD PORT

Started by finetune.training.run.run_training, never by hand: it joins rank 0's group, builds the
same LoRA model from the spec that rank 0 wrote, and then does what rank 0 says, step by
step, until told to stop. It writes nothing: checkpoints and the adapter are rank 0's.
"""

import json
import sys
from pathlib import Path


def main(spec_file: str, rank: int, world: int, port: int) -> None:
    import torch

    from finetune.training.parallel import Group

    group = Group.join(rank, world, port)  # first, so rank 0 is not kept waiting on imports
    from finetune.training.checkpoints import load_checkpoint
    from finetune.training.config import TrainConfig
    from finetune.training.data import EncodedRow
    from finetune.training.parallel import Command
    from finetune.training.run import (
        evaluate,
        learning_rate_at,
        lora_model,
        new_optimizer,
        train_step,
    )

    spec = json.loads(Path(spec_file).read_text())
    config = TrainConfig.from_dict(spec["config"])
    torch.set_num_threads(config.torch_threads)

    def rows(key):
        return [EncodedRow(row_id=i, input_ids=ids, labels=labels) for i, ids, labels in spec[key]]

    train, evaluation, plan = rows("train"), rows("eval"), spec["plan"]
    model = lora_model(config, Path(spec["model_folder"]))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = new_optimizer(params, config)
    group.same_as_rank0(params)
    if spec["resume_from"]:
        load_checkpoint(Path(spec["resume_from"]), model=model, optimizer=optimizer)
    try:
        while True:
            command, step = group.receive()
            if command == Command.STOP:
                break
            if command == Command.TRAIN:
                batch = [train[i] for i in plan[step]]
                lr = learning_rate_at(step, len(plan), config)
                train_step(model, optimizer, params, batch, lr=lr, config=config, group=group)
            elif command == Command.EVALUATE:
                evaluate(model, evaluation, bf16=config.bf16, group=group)
    finally:
        group.close()


if __name__ == "__main__":
    spec_path, rank_arg, world_arg, port_arg = sys.argv[1:]
    main(spec_path, int(rank_arg), int(world_arg), int(port_arg))
