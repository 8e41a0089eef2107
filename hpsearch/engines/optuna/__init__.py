"""The Optuna engine: its ask/tell loop (`engine`), the sampler kept for resume (`draws`) and
shared storages for workers (`shared`)."""
