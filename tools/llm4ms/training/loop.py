"""The training loop shared by the stages: seeded batches, AdamW with warm-up and cosine decay, gradient
clipping, checkpoints every N steps that a later run resumes from, a loss log and a time budget."""

import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .losses import info_nce, masked_next_token, tanimoto_regression, tanimoto_torch
from .sampler import rng_for, supervised_batch, text_batch
from .settings import STATE, TrainSettings


def _same_compound(examples, rows_a, rows_b, device):
    compounds = examples.tensors(device)[2]
    a, b = torch.as_tensor(rows_a, device=device), torch.as_tensor(rows_b, device=device)
    return compounds[a][:, None] == compounds[b][None, :]


def _tanimoto(examples, rows_a, rows_b, device):
    prints, known, _ = examples.tensors(device)
    a, b = torch.as_tensor(rows_a, device=device), torch.as_tensor(rows_b, device=device)
    values = tanimoto_torch(prints[a], prints[b])
    return values, known[a][:, None] & known[b][None, :]


def mntp_loss(encoder, examples, settings: TrainSettings, step: int):
    texts, _ = text_batch(examples, settings.seed, step, settings.batch_size)
    features = encoder.features(texts)
    ids = features["input_ids"]
    candidates = features["attention_mask"].bool() & features["embed_mask"].bool()
    candidates[:, 0] = False  # position 0 has no previous state to predict it from
    generator = torch.Generator().manual_seed(int(rng_for(settings.seed, step).integers(2**31)))
    draw = torch.rand(ids.shape, generator=generator).to(ids.device)
    masked = candidates & (draw < settings.mask_probability)
    if not masked.any():
        masked = candidates & (draw == draw[candidates].min())
    corrupted = ids.masked_fill(masked, encoder.mask_id)
    hidden = encoder.hidden_states({**features, "input_ids": corrupted})
    return masked_next_token(hidden, encoder.output_weights(), ids, masked)


def simcse_loss(encoder, examples, settings: TrainSettings, step: int):
    texts, rows = text_batch(examples, settings.seed, step, settings.batch_size)
    first, second = encoder.embed(texts), encoder.embed(texts)
    forbidden = _same_compound(examples, rows, rows, first.device)
    forbidden.fill_diagonal_(False)
    return info_nce(first, second, 1 / settings.temperature, forbidden)


def supervised_loss(encoder, examples, settings: TrainSettings, step: int):
    (anchors, positives, negatives), a, p, n = supervised_batch(examples, settings.seed, step,
                                                                settings.batch_size, settings.augment,
                                                                settings.hard_negatives > 0)
    vectors = encoder.embed(anchors + positives + negatives)
    size = len(anchors)
    device = vectors.device
    if settings.loss == "tanimoto":
        rows = np.concatenate([a, p, n])
        similarity, known = _tanimoto(examples, rows, rows, device)
        same = _same_compound(examples, rows, rows, device)
        return tanimoto_regression(vectors, torch.where(same, torch.ones_like(similarity), similarity),
                                   known | same)
    documents = np.concatenate([p, n])
    similarity, known = _tanimoto(examples, a, documents, device)
    forbidden = _same_compound(examples, a, documents, device) | (known & (similarity >= settings.positive_tanimoto))
    forbidden[torch.arange(size), torch.arange(size)] = False
    return info_nce(vectors[:size], vectors[size:], 1 / settings.temperature, forbidden)


LOSSES = {"mntp": mntp_loss, "simcse": simcse_loss, "supervised": supervised_loss}


class Schedule:
    """Linear warm-up over a fixed number of steps, then cosine decay over the planned steps. With a time
    budget the plan is fitted to the pace measured over the first steps, so a run told to take an hour
    decays fully within the hour."""

    MEASURE_FROM, MEASURE_TO = 3, 13

    def __init__(self, settings: TrainSettings):
        self.settings = settings
        self.planned = settings.steps

    def __call__(self, step: int) -> float:
        warmup = max(1, min(self.settings.warmup_steps, self.planned // 2))
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, self.planned - warmup))))

    def fit(self, seconds_per_step: float, seconds_left: float, step: int) -> None:
        self.planned = max(step + 1, min(self.settings.steps, step + int(seconds_left / seconds_per_step)))


def train(encoder, examples, settings: TrainSettings, checkpoint: Path, resume: bool, progress_factory=None,
          log=None, batch_offset: int = 0, identity: dict | None = None) -> dict:
    """Run the stage's steps; returns what the adapter's record says about the run. Step i draws batch
    ``batch_offset + i``, so a stage that continues earlier ones goes on to batches they did not see.
    ``identity``: what else (backbone, training file, start adapter) a checkpoint must have been made with
    to be resumed. A stopping signal (Ctrl-C, SIGTERM, SIGHUP) is held until the step in flight ends, the
    checkpoint is saved, and then it stops the run as it would have."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    torch.manual_seed(settings.seed)
    parameters = encoder.parameters()
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    plan = Schedule(settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)
    start, history, spent = 0, [], 0.0
    state_file = checkpoint / STATE
    made_from = {"settings": _resumable(settings), **(identity or {})}
    if resume and state_file.exists():
        state = torch.load(state_file, map_location=encoder.device, weights_only=False)
        # a checkpoint of an earlier llm4ms records its settings alone
        _check_same_run(state.get("made_from", {"settings": state.get("settings")}), made_from)
        set_peft_model_state_dict(encoder.network, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, history, spent = state["step"], state["history"], state["seconds"]
        plan.planned = state["planned"]
        _restore_random_state(state.get("random"))
    compute = LOSSES[settings.stage]
    encoder.network.train()
    began = time.perf_counter()
    progress = progress_factory(settings.steps) if progress_factory else None
    if progress is not None:
        progress.update(start)
    running = None
    step = start
    stopped_early = False
    measured_at = None

    def save(elapsed):
        _save_state(state_file, encoder, optimizer, scheduler, plan, step, history, elapsed, made_from,
                    get_peft_model_state_dict)

    with _HeldSignals() as held:
        while step < plan.planned:
            if step == start + Schedule.MEASURE_FROM:
                measured_at = time.perf_counter()
            # --max-minutes is each run's own budget; the schedule is fitted to it once, by the run that
            # starts the stage, and a resumed run goes on along that schedule
            if step == Schedule.MEASURE_TO and start == 0 and settings.max_minutes is not None \
                    and measured_at is not None:
                pace = (time.perf_counter() - measured_at) / (Schedule.MEASURE_TO - Schedule.MEASURE_FROM)
                plan.fit(pace, settings.max_minutes * 60 - (time.perf_counter() - began), step)
                if progress is not None:
                    progress.total = plan.planned
            loss = compute(encoder, examples, settings, batch_offset + step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            rate = scheduler.get_last_lr()[0]  # the rate this step's update uses
            optimizer.step()
            scheduler.step()
            step += 1
            value = float(loss.detach())
            running = value if running is None else 0.95 * running + 0.05 * value
            elapsed = spent + time.perf_counter() - began
            history.append([step, round(value, 5), rate, round(elapsed, 2)])
            if log is not None:
                log(step, value)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{running:.4f}", refresh=False)
            out_of_time = settings.max_minutes is not None and time.perf_counter() - began >= \
                settings.max_minutes * 60 and step < plan.planned
            if step % settings.checkpoint_every == 0 or step == plan.planned or out_of_time or held.signal:
                save(elapsed)
            held.deliver()
            if out_of_time:
                stopped_early = True
                break
    if progress is not None:
        progress.close()
    encoder.network.eval()
    tail = [h[1] for h in history[-50:]]
    return {"steps_done": step, "steps_planned": plan.planned, "batch_offset": batch_offset,
            "stopped_by_time_budget": stopped_early,
            "final_loss_mean_last_50": round(float(np.mean(tail)), 5) if tail else None,
            "seconds": round(spent + time.perf_counter() - began, 1), "history": history}


class _HeldSignals:
    """Ctrl-C, SIGTERM and SIGHUP held until ``deliver`` at the end of a step, so the checkpoint saved before
    it is whole (one interrupted mid-update would not be): a scheduler's stop (scancel, a pre-emption) then
    loses only the step in flight, not every step since the last regular checkpoint. A second signal while
    one is held acts at once. The handlers the run had are restored on leaving."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.signal, self.previous = None, {}
        if threading.current_thread() is threading.main_thread():
            # an ignored signal stays ignored (SIGHUP under nohup)
            self.previous = {s: signal.signal(s, self._hold) for s in self.SIGNALS
                             if signal.getsignal(s) is not signal.SIG_IGN}
        return self

    def _hold(self, signum, frame):
        if self.signal is not None:
            self._act(signum)
        self.signal = signum

    def deliver(self):
        if self.signal is not None:
            self._act(self.signal)

    def _act(self, signum):
        handler = self.previous.get(signum, signal.SIG_DFL)
        self.__exit__(None, None, None)
        if callable(handler):
            handler(signum, None)  # the command's own: KeyboardInterrupt, or llm4ms's Terminated
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


class CheckpointMismatch(ValueError):
    """A checkpoint of another run than the one asked to resume it."""


def _check_same_run(saved: dict, now: dict) -> None:
    """Refuse a checkpoint made by another run, naming what differs."""
    inputs = {"model": "backbone", "training_set_sha256": "training file", "init_adapter": "--init-adapter"}
    differ = [name for key, name in inputs.items() if saved.get(key) != now.get(key)]
    differ += ["--" + key.replace("_", "-") for key in sorted(set(saved["settings"]) | set(now["settings"]))
               if saved["settings"].get(key) != now["settings"].get(key)]
    if differ:
        raise CheckpointMismatch(f"checkpoint was made by a run with another {', '.join(differ)}")


def _random_state() -> dict:
    """Dropout's random numbers (LoRA dropout, simcse's attention dropout) come from torch's generators, so a
    resumed run needs them where the stopped one left them to continue exactly."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_random_state(state: dict | None) -> None:
    if not state:
        return  # a checkpoint of an earlier llm4ms
    # torch.load(map_location=cuda) moved these byte tensors to the GPU; the setters take them on the CPU
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _resumable(settings: TrainSettings) -> dict:
    record = settings.record()
    record.pop("max_minutes")
    record.pop("checkpoint_every")
    record.pop("max_rank")  # shapes only the saved folder, not the training
    return record


def _save_state(path: Path, encoder, optimizer, scheduler, plan, step, history, seconds, made_from, state_dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"adapter": state_dict(encoder.network), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "planned": plan.planned, "step": step, "history": history,
                "seconds": seconds, "random": _random_state(), "made_from": made_from}, tmp)
    tmp.replace(path)


def write_log(history: list, path: Path) -> None:
    lines = ["step\tloss\tlr\tseconds"] + ["\t".join(json.dumps(v) for v in row) for row in history]
    path.write_text("\n".join(lines) + "\n")
