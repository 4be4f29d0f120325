"""The adversarial loop: the discriminator and the generator take turns, each with its own optimiser.

Per step: the discriminator scores one batch holding the real images and as many generated
ones (one forward, so DDP sees each module called once), then the generator is updated to
make the discriminator call its images real. The loss entry supplies both objectives.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from trainworks.data.types import DataBundle
from trainworks.engine.assemble import build_model, job_info
from trainworks.engine.batching import derive_seed, epoch_permutation, rank_batches, steps_per_epoch
from trainworks.engine.checkpoint import Checkpoint
from trainworks.engine.distributed import Distributed
from trainworks.engine.families import FAMILIES, Family, Outcome
from trainworks.engine.hooks import Hook, Hooks
from trainworks.engine.loop import EpochRecord, Reporter, make_saver, restored_history
from trainworks.losses import LOSSES
from trainworks.optim import OPTIMIZERS, SCHEDULES, Plan
from trainworks.spec.schema import JobSpec

SAMPLE_COUNT = 36


def train_gan(spec: JobSpec, data: DataBundle, dist: Distributed, reporter: Reporter,
              resume: Checkpoint | None, extra_hooks: Sequence[Hook] = ()) -> None:
    """Alternate discriminator and generator steps over the training images for `training.epochs` epochs."""
    training, device = spec.training, dist.device
    gan = build_model(spec, data).to(device)
    generator, discriminator = dist.wrap(gan.generator), dist.wrap(gan.discriminator)
    build_optimizer = OPTIMIZERS.get(spec.optimizer.name).build
    optimizers = {"generator": build_optimizer(spec.optimizer, gan.generator),
                  "discriminator": build_optimizer(spec.optimizer, gan.discriminator)}
    plan = Plan(training.epochs, steps_per_epoch(len(data.train), training.batch_size))
    schedules = {name: SCHEDULES.get(spec.schedule.name).build(spec.schedule, optimizer, plan)
                 for name, optimizer in optimizers.items()}
    adversarial = LOSSES.get(spec.loss.name).build(spec.loss, job_info(spec, data))
    if resume is not None:
        gan.load_state_dict(resume.state["model"])
        for name in optimizers:
            optimizers[name].load_state_dict(resume.state["optimizers"][name])
            schedules[name].load_state_dict(resume.state["schedules"][name])
    history, hooks = restored_history(resume), Hooks(extra_hooks)
    state = lambda: {"model": gan.state_dict(),  # noqa: E731
                     "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
                     "schedules": {name: sch.state_dict() for name, sch in schedules.items()}}
    stopped = bool(resume and resume.meta.get("stopped"))
    for epoch in range(history[-1].epoch + 1 if history else 1, training.epochs + 1):
        if stopped:
            break
        torch.manual_seed(derive_seed(training.seed, epoch, dist.rank))
        hooks.on_epoch_start(epoch)
        started = time.perf_counter()
        totals = torch.zeros(3, dtype=torch.float64, device=device)  # d loss, g loss, images
        generator.train()
        discriminator.train()
        for rows in rank_batches(epoch_permutation(len(data.train), training.seed, epoch), training.batch_size,
                                 dist.rank, dist.world_size):
            real = data.train.x[rows].to(device)
            if data.transform is not None:
                real = data.transform(real)
            fake = generator(torch.randn(len(real), gan.latent, device=device))
            logits = discriminator(torch.cat([real, fake.detach()]))
            d_loss = adversarial.discriminator(logits[: len(real)], logits[len(real):])
            _step(optimizers["discriminator"], d_loss)
            g_loss = adversarial.generator(discriminator(fake))
            _step(optimizers["generator"], g_loss)
            for schedule in schedules.values():
                schedule.step_end()
            totals += torch.tensor([d_loss.item() * len(real), g_loss.item() * len(real), len(real)],
                                   dtype=torch.float64, device=device)
        d_sum, g_sum, count = dist.all_reduce_sum(totals).tolist()
        seconds = time.perf_counter() - started
        metrics = {"d_loss": d_sum / count, "g_loss": g_sum / count,
                   "lr": optimizers["generator"].param_groups[0]["lr"], "epoch_seconds": seconds,
                   "samples_per_second": count / seconds}
        for schedule in schedules.values():
            schedule.epoch_end(metrics)
        stopped = hooks.on_validation_end(epoch, metrics)
        history.append(EpochRecord(epoch, metrics))
        reporter.epoch_end(history[-1], make_saver(state, history, stopped))


def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on this loss alone (gradients of the other network are cleared first)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def gan_outcome(spec: JobSpec, data: DataBundle, final: Checkpoint) -> Outcome:
    """The generator's images from fixed noise, logged as a grid; the logged model generates from z."""
    gan = build_model(spec, data)
    gan.load_state_dict(final.state["model"])
    gan.eval()
    noise = torch.randn(SAMPLE_COUNT, gan.latent, generator=torch.Generator().manual_seed(spec.training.seed))
    with torch.no_grad():
        samples = gan(noise)
    last = final.meta["history"][-1]["metrics"]
    return Outcome({"d_loss": last["d_loss"], "g_loss": last["g_loss"]}, gan, noise[:5],
                   images={"generated_samples": samples})


FAMILIES["gan"] = Family(train_gan, gan_outcome)
