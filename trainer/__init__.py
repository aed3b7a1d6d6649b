"""taskpt trainer: Ray Train jobs (fine-tuning, tagger training, masked-LM continued
pretraining) sharing one training loop. Reads stored datasets only through
`engine.contract`."""
