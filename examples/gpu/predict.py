"""A GPU model: a torch matrix product on the GPU when there is one.

Built into LLB and checked in tests only (no GPU and no CUDA base image in
the development environment)."""

import torch
from cog import BaseRunner, Input


class Runner(BaseRunner):
    def setup(self) -> None:
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.w = torch.arange(6, dtype=torch.float32, device=self.device).reshape(2, 3)

    def run(self, scale: float = Input(description="multiplier", default=1.0)) -> list[float]:
        x = torch.ones(3, device=self.device) * scale
        return (self.w @ x).cpu().tolist()
