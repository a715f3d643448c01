"""A tiny trainable generator for exercising the shared training loop (tests only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.trainable import TrainableGenerator


@dataclass
class ToySettings:
    """``model_settings.toy``: what a plugin declares so that its settings are checked like the
    built-ins' (unknown key, wrong type: one line naming the key)."""

    width: int = 4
    """Channels of the hidden layer."""


class ToyGenerator(TrainableGenerator):
    """A 2-layer conv net conditioned on a one-hot label map, trained with L1 + a noisy critic."""

    name: ClassVar[str] = "toy"
    Settings: ClassVar[type] = ToySettings
    source_mode: ClassVar[str] = "neutral"

    def __init__(self, image_size: int, num_expressions: int = 7, width: int = 4):
        super().__init__(image_size, num_expressions, width=width)
        self.net = nn.Sequential(
            nn.Conv2d(3 + num_expressions, width, 3, padding=1),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Conv2d(width, 3, 3, padding=1),
        )
        self.critic = nn.Conv2d(3, 1, 3, padding=1)

    def generate(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        maps = nn.functional.one_hot(labels, self.num_expressions).float()
        maps = maps[:, :, None, None].expand(-1, -1, *images.shape[-2:])
        return torch.tanh(net(torch.cat([images, maps], 1)) + images)

    def translate(self, images: torch.Tensor, target_expressions: torch.Tensor) -> torch.Tensor:
        self.check_inputs(images, target_expressions)
        return self.generate(self.net, images, target_expressions)

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.net, "critic": self.critic}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "generator": torch.optim.Adam(self.net.parameters(), lr=1e-2),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=1e-2),
        }

    def train_step(self, nets, optimizers, batch, step, total_steps):
        with self.amp():
            noisy = batch.source + 0.01 * torch.randn_like(batch.source)
            fake = self.generate(nets["generator"], noisy, batch.target_expression)
            critic_loss = nets["critic"](fake.detach()).mean() - nets["critic"](batch.target).mean()
        optimizers["critic"].zero_grad()
        critic_loss.backward()
        optimizers["critic"].step()
        with self.amp():
            fake = self.generate(nets["generator"], batch.source, batch.target_expression)
            l1 = (fake - batch.target).abs().mean()
            loss = l1 - 0.01 * nets["critic"](fake).mean()
        optimizers["generator"].zero_grad()
        loss.backward()
        optimizers["generator"].step()
        return {"l1": l1.detach(), "critic": critic_loss.detach()}


class DeterministicToy(ToyGenerator):
    """The toy without dropout, noise or critic: a step depends only on its batch (DDP checks)."""

    name: ClassVar[str] = "toy_deterministic"

    def __init__(self, image_size: int, num_expressions: int = 7, width: int = 4):
        super().__init__(image_size, num_expressions, width)
        self.net[2] = nn.Identity()

    def training_modules(self) -> dict[str, nn.Module]:
        return {"generator": self.net}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": torch.optim.Adam(self.net.parameters(), lr=1e-2)}

    def train_step(self, nets, optimizers, batch, step, total_steps):
        fake = self.generate(nets["generator"], batch.source, batch.target_expression)
        l1 = (fake - batch.target).abs().mean()
        optimizers["generator"].zero_grad()
        l1.backward()
        optimizers["generator"].step()
        return {"l1": l1.detach()}
