"""Fixture logs in the shape of modded-nanogpt's: the training script the run printed, a line of `=`
signs, then the run's output. Written for the tests (no third-party log is copied): one builder per
convention the batch reader knows (aieff.verify.batch.modded_nanogpt)."""

from __future__ import annotations

HEAD = "import os\nimport sys\nwith open(sys.argv[0]) as f:\n    code = f.read() # read the code of this file ASAP\n"
RULE = "=" * 100
GET_BS = """
def get_bs(step: int):
    if step >= args.num_scheduled_iterations:
        return args.train_bs_extension
    x = step / args.num_scheduled_iterations
    bs_idx = int(len(args.train_bs_schedule) * x)
    return args.train_bs_schedule[bs_idx]
"""
SCHEDULE_CLASS = """
@dataclass
class TrainingStage:
    batch_size: int
    duration: float = None

class TrainingSchedule:
    def __init__(self, stages: list[TrainingStage], scheduled_iterations: int, extension_iterations: int,
                 cooldown_frac: float = 0.5):
        self.stages = stages
        self.scheduled_iterations = scheduled_iterations
        self.total_steps = self.scheduled_iterations + extension_iterations
        ends = [0, *[round(c * scheduled_iterations) for c in accumulate(s.duration for s in stages[:-1])],
                self.total_steps]
        assert self.scheduled_iterations == ends[-2]
        self.boundaries = list(pairwise(ends))

    def lookup(self, step: int) -> tuple[TrainingStage, float]:
        for i, (start, end) in enumerate(self.boundaries):
            if step < end:
                t = (step - start) / (end - start)
                return self.stages[i], t
        return self.stages[-1], 1.0
"""


def log(hyper: str, top: str = "", *, steps: int = 100, values: tuple[float, ...] = (10.8, 4.1, 3.27)) -> bytes:
    """A log whose script has the Hyperparameters body `hyper` (indented by the caller) and `top` after it."""
    script = f"{HEAD}\n@dataclass\nclass Hyperparameters:\n{hyper}\nargs = Hyperparameters()\n{top}\n"
    evals = [round(i * steps / (len(values) - 1)) for i in range(len(values))]
    out = "".join(
        f"step:{s}/{steps} val_loss:{v:.4f} train_time:{s * 100}ms step_avg:100.00ms\n"
        for s, v in zip(evals, values, strict=True)
    )
    return f"{script}{RULE}\nRunning Python 3.12.7\n{RULE}\n{out}".encode()


def sequences(batch: str = "8*64", length: str = "1024", **kw: object) -> bytes:
    """Early records: sequences across all devices, of `sequence_length` tokens."""
    return log(
        f"    batch_size : int = {batch} # batch size, in sequences, across all devices\n"
        "    device_batch_size : int = 64 # batch size, in sequences, per device\n"
        f"    sequence_length : int = {length} # sequence length, in tokens\n",
        **kw,  # type: ignore[arg-type]
    )


def tokens(**kw: object) -> bytes:
    """Tokens across all devices (records 18-20)."""
    return log("    batch_size = 8*64*1024 # batch size in tokens\n    seq_len = 64*1024\n", **kw)  # type: ignore[arg-type]


def train_batch_size(**kw: object) -> bytes:
    """Tokens per step over every device and accumulation step (records 29-45)."""
    return log(
        "    train_batch_size: int = 2048 * 24 * 8\n    train_max_seq_len: int = 128 * 16\n",
        "world_size = int(os.environ['WORLD_SIZE'])\nassert 8 % world_size == 0\ngrad_accum_steps = 8 // world_size\n",
        **kw,  # type: ignore[arg-type]
    )


def per_device(fixed: str = "assert world_size == 8 # this code is designed for 8xH100\n", **kw: object) -> bytes:
    """Tokens per device (records 21-28): the script fixes the devices, or does not (fixed='')."""
    return log(
        "    train_seq_len = 48*1024 # FlexAttention sequence length\n    val_seq_len = 4*64*1024\n",
        f"world_size = int(os.environ['WORLD_SIZE'])\n{fixed}",
        **kw,  # type: ignore[arg-type]
    )


def bs_schedule(scheduled: int = 2120, **kw: object) -> bytes:
    """A batch-size schedule applied by get_bs (records 46-64)."""
    return log(
        "    train_bs_schedule: tuple = (8 * 2048 * 8, 16 * 2048 * 8, 24 * 2048 * 8)\n"
        "    train_bs_extension: int = 24 * 2048 * 8\n"
        f"    num_scheduled_iterations: int = {scheduled}  # number of steps to complete lr and ws schedule\n"
        "    num_extension_iterations: int = 40\n",
        GET_BS,
        **kw,  # type: ignore[arg-type]
    )


def stages(scheduled: int = 1380, **kw: object) -> bytes:
    """TRAINING_STAGES (records 65 on): three thirds, then the extension at the last batch."""
    return log(
        f"    num_scheduled_iterations: int = {scheduled}\n    num_extension_iterations: int = 40\n",
        SCHEDULE_CLASS
        + "TRAINING_STAGES = [\n"
        + "    TrainingStage(duration=1/3, batch_size=8 * 2048 * 8),\n"
        + "    TrainingStage(duration=1/3, batch_size=16 * 2048 * 8),\n"
        + "    TrainingStage(duration=1/3, batch_size=24 * 2048 * 8),\n"
        + "    TrainingStage(batch_size=24 * 2048 * 8),  # extension\n"
        + "]\n"
        + "training_schedule = TrainingSchedule(TRAINING_STAGES, args.num_scheduled_iterations, "
        + "args.num_extension_iterations)\n",
        **kw,  # type: ignore[arg-type]
    )
