"""Train-vs-serve parity: the same adapter, greedy, in peft (in-process) and in vLLM.

Both should write the same text. Numerics differ (vLLM on CPU runs bf16 kernels, peft here
runs fp32), so the check reports where each pair diverges rather than only pass/fail.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from serving.backend import Backend, ChatMessage, Sampling, complete


@dataclass(frozen=True, kw_only=True)
class ParityResult:
    index: int
    local: str
    served: str
    diverges_at: int | None  # first differing character; None when both are equal

    @property
    def match(self) -> bool:
        return self.diverges_at is None


def first_difference(a: str, b: str) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def parity_check(
    prompts: Sequence[list[ChatMessage]],
    *,
    model: str,
    local: Backend,
    served: Backend,
    max_tokens: int = 64,
) -> list[ParityResult]:
    sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
    results = []
    for index, messages in enumerate(prompts):
        local_text, _ = complete(local, messages, model=model, sampling=sampling)
        served_text, _ = complete(served, messages, model=model, sampling=sampling)
        results.append(
            ParityResult(
                index=index,
                local=local_text,
                served=served_text,
                diverges_at=first_difference(local_text, served_text),
            )
        )
    return results


def parity_report(results: Sequence[ParityResult]) -> str:
    lines = [f"{sum(r.match for r in results)}/{len(results)} identical"]
    for r in results:
        if r.match:
            continue
        at = r.diverges_at
        lines.append(
            f"  prompt {r.index}: same for {at} characters, then "
            f"peft {r.local[at : at + 30]!r} vs vLLM {r.served[at : at + 30]!r}"
        )
    return "\n".join(lines)
