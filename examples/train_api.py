"""Train, stop, resume and reload a spiking network from Python (what ``spikeforge train`` does).

    .venv/bin/python examples/train_api.py [RUN_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from spikeforge.learn import TrainConfig, Trainer, load_run, readout_logits

run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/api-example")
config = TrainConfig(epochs=10, hidden=[128], neuron="LIF", neuron_params={"tau": 10.0}, seed=1)

trainer = Trainer(config, run)
trainer.start(overwrite=True)
trainer.fit(stop_after=4)  # e.g. a time-boxed job: stops after 4 epochs, checkpoint written

trainer = Trainer.resume(run)  # the same weights, optimizer state and RNG states
trainer.fit()
metrics = trainer.finalize()  # metrics.json, pictures, final weights
trainer.console.print(trainer.summary_table(metrics))

model = load_run(run)  # the trained network, no data set needed
test = trainer.dataset.test
x = test.encode(torch.arange(4))  # [T, 4, 24] delta spikes, zero after each sample's length
logits = readout_logits(model(x), test.lengths[:4], reduce=config.loss)  # the readout at each last valid step
print("predicted classes:", logits.argmax(1).tolist(), "true:", test.y[:4].tolist())
