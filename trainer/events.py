"""TensorBoard event files of a training run, in the model's store folder (any filesystem).

Rank 0 writes scalars with tensorboardX (which Ray Train brings) to a local folder and copies
its files to `<model>/tensorboard` at every flush, so an s3:// store gets them too and
`tensorboard --logdir <store>/models` shows every run. A run resumed after a failure writes a
new event file beside the first; TensorBoard reads them as one run.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from engine.contract import fs

EVENTS_FOLDER = "tensorboard"


class EventLog:
    def __init__(self, target: str):
        from tensorboardX import SummaryWriter

        self.target, self.local = target, tempfile.mkdtemp(prefix="taskpt-events-")
        self.writer = SummaryWriter(self.local, flush_secs=3600)  # flushed with the copies below

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            if value is not None:
                self.writer.add_scalar(tag, float(value), step)

    def flush(self) -> None:
        """Write the events so far and copy them to the target folder."""
        self.writer.flush()
        for name in os.listdir(self.local):
            with open(os.path.join(self.local, name), "rb") as f:
                fs.write_bytes(fs.join(self.target, name), f.read())

    def close(self) -> None:
        self.flush()
        self.writer.close()
        shutil.rmtree(self.local, ignore_errors=True)
