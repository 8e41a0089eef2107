"""Each engine's best model as an MLflow model: the sklearn flavour, a signature and an input
example of raw rows, so that `mlflow.pyfunc.load_model(uri).predict(rows)` takes what
`hpsearch predict` takes. Logged on the engine's best trial's run; the parent's tags keep the
digest of the pickle it came from (sent again only when that changes) and the model's URI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.rundir.folder import BEST

MODEL_TAG = "hpsearch.model."  # + engine: <digest of best/<engine>.pkl>:<run it went to>
MODEL_URI_TAG = "hpsearch.model_uri."  # + engine: where that model is (models:/...)


def log_models(
    tracking_uri: str,
    parent: Any,
    run_dir: Path,
    best: dict[str, Any],
    tag: Callable[[dict[str, str]], None],
) -> int:
    """Each engine's best/<engine>.pkl as an MLflow model (sklearn flavour, signature, input
    example) on its best trial's run (`best`: engine -> that run), once summary.csv names
    that trial; `tag` sets tags of the parent."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    from hpsearch.report.best import load_pickle  # lazy: it loads the data readers

    sent = 0
    for engine, child in best.items():
        path = run_dir / BEST / f"{engine}.pkl"
        if not path.is_file():
            continue
        data = path.read_bytes()
        # the pickle's digest and the run it went to: a trial run logged again (its record
        # changed after the model was sent) gets the model again
        digest = f"{hashlib.sha256(data).hexdigest()[:16]}:{child.info.run_id}"
        if parent.data.tags.get(MODEL_TAG + engine) == digest:
            continue
        model = load_pickle(data)
        example = example_input(model)
        mlflow.set_tracking_uri(tracking_uri)  # the fluent API logs models; this thread's run
        with mlflow.start_run(run_id=child.info.run_id):
            logged = mlflow.sklearn.log_model(
                model,
                name=f"{engine}-best",
                signature=mlflow.models.infer_signature(example, model.predict(example)),
                input_example=example,
                serialization_format="cloudpickle",  # skops refuses hpsearch's own classes
                pip_requirements=_requirements(),  # inferring them loads the model again
            )
        # end_run stamped the trial's end as now: it keeps the end of its training
        MlflowClient(tracking_uri).set_terminated(
            child.info.run_id, child.info.status, end_time=child.info.end_time
        )
        tag({MODEL_TAG + engine: digest, MODEL_URI_TAG + engine: logged.model_uri})
        sent += 1
    return sent


def example_input(model: Any) -> Any:
    """Two raw input rows the model takes: a table model's (its encoder's medians and first
    categories), else zeros of its width."""
    from hpsearch.report.best import n_features_of, takes_table

    if not takes_table(model):
        return np.zeros((2, n_features_of(model)), dtype=np.float32)
    import pandas as pd

    encoder = model.steps[0][1]
    parts = encoder.transformer_.named_transformers_
    row: dict[str, Any] = {}
    if encoder.numeric_:
        medians = parts["numeric"].steps[0][1].statistics_
        row.update({c: float(m) for c, m in zip(encoder.numeric_, medians, strict=False)})
    if encoder.categorical_:
        categories = parts["categorical"].steps[-1][1].categories_
        row.update({c: str(k[0]) for c, k in zip(encoder.categorical_, categories, strict=False)})
    return pd.DataFrame([row, row], columns=encoder.columns_)


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("hpsearch", "scikit-learn", "scikeras", "keras", "jax", "pandas", "numpy"):
        try:
            found.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return found
