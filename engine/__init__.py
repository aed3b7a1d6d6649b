"""taskpt engine: Ray Data preprocessing (readers, tokenization, importance scoring, tagging,
mask selection) that writes versioned datasets. It knows nothing of training."""
