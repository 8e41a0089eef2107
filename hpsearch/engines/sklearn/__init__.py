"""The scikit-learn engine: RandomizedSearchCV or successive halving over the wrappers, with a
fit store for resume (`fitstore`) and a Dask cluster mode (`dask_backend`). `engine` is light;
the rest loads in `run`."""
