"""The error of a fine-tuning request a service refuses before doing anything.

One class for every such refusal (a job or an evaluation that cannot start), so the API,
the pages and the commands translate it to messages in one way, at the edge.
"""


class RequestRejected(Exception):
    """A request that cannot start: `problems` names each bad field or input."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
