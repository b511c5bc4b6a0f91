"""Every knob of a training run, recorded next to the adapter it makes."""

from dataclasses import asdict, dataclass, field

from .augment import PROFILES

STAGES = ("mntp", "simcse", "supervised")
LOSSES = ("infonce", "tanimoto")
POSITIVES = ("all", "same-kind")  # same-kind: an EI spectrum's same-compound positives only of its own kind
DTYPES = ("float32", "bf16-mixed")  # training keeps float32 weights; bf16-mixed adds bf16 autocast
STATE = "state.pt"  # the checkpoint file in OUTPUT.checkpoint/
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainSettings:
    stage: str = "supervised"
    loss: str = "infonce"
    layers: int | None = 12
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple = field(default=LORA_TARGETS)
    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-4
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_length: int = 192  # the longest library texts: EI 155 tokens, MS/MS 160
    temperature: float = 0.05  # llm2vec's scale of 20
    mask_probability: float = 0.2  # mntp, as in LLM2Vec
    dropout: float = 0.1  # attention dropout for simcse views
    augment: float = 0.5  # chance that a text is re-made from a perturbed spectrum
    augment_profile: str = "light"  # how strongly: training.augment.PROFILES
    also_peak_choice: str | None = None  # EI: half the texts written with this peak choice (sampler.Examples.text)
    positives: str = "all"  # same-kind: no pair of an EI spectrum above its compound's mass with an ordinary one
    positive_tanimoto: float = 0.8
    negative_tanimoto: float = 0.4
    hard_negatives: int = 8  # mined per spectrum; 0: in-batch negatives only
    seed: int = 0
    checkpoint_every: int = 200
    max_minutes: float | None = None
    max_rank: int | None = None  # a chained adapter's rank cap (adapters.fold); None: exact, each stage adds lora_r

    def record(self) -> dict:
        values = asdict(self)
        values["lora_targets"] = list(self.lora_targets)
        values["augment_perturbation"] = PROFILES[self.augment_profile].record()
        if self.also_peak_choice is None:  # single-view stages keep the record they always had
            del values["also_peak_choice"]
        if self.positives == "all":  # likewise for stages that draw every same-compound positive
            del values["positives"]
        return values
