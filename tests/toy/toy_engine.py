"""A toy engine from outside hpsearch: random sampling over the study's space, registered only
through an entry point (tests/test_toy_engine.py writes its distribution's metadata). It uses
hpsearch's public API alone, as another package would."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from hpsearch.engines.base import Engine, EngineContext, EngineResult
from hpsearch.study.space import sklearn_distributions, unique_samples
from hpsearch.study.trials import MINIMIZE, TrialRecord, best_trial, trial_id


@dataclass(frozen=True)
class ToySettings:
    n_trials: int = 3


class ToyEngine(Engine):
    name = "toy"
    colour = "#9467bd"
    settings_class = ToySettings
    schema = {"n_trials": int}

    def check(self, c: Any, raw: dict[str, Any], study: Any) -> None:
        if "n_trials" in raw:
            c.at_least("toy.n_trials", raw["n_trials"], 1)

    def metric(self, study: Any) -> tuple[str, str]:
        return "val_loss", MINIMIZE

    def planned(self, study: Any) -> int:
        return study.settings[self.name].n_trials

    def run(self, ctx: EngineContext) -> EngineResult:
        """Each trial fits the public wrapper on train and scores validation loss; a finished
        trial's record is kept in the state folder, so a resume trains only the rest."""
        from sklearn.pipeline import make_pipeline

        study, data = ctx.study, ctx.data
        draws = unique_samples(sklearn_distributions(study.space), self.planned(study), study.seed)
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        records = []
        for i, params in enumerate(draws):
            kept = ctx.workdir / f"{i}.json"
            if kept.is_file():
                record = TrialRecord(**json.loads(kept.read_text()))
            else:
                model = self.fitted(study, data, params)
                scores = model.model_.evaluate(data.x_val, data.y_val, verbose=0)
                loss = float(scores[0] if isinstance(scores, list) else scores)
                record = TrialRecord(
                    engine=self.name,
                    trial=trial_id(i),
                    status="ok",
                    params=params,
                    metric="val_loss",
                    direction=MINIMIZE,
                    val_score=loss,
                    epochs_run=float(study.epochs),
                    fit_seconds=math.nan,
                )
                kept.write_text(json.dumps(asdict(record), default=lambda v: v.item()))
            records.append(record)
            ctx.report(record)
        best = best_trial(records)
        model = make_pipeline(self.fitted(study, data, best.params)) if best else None
        return EngineResult(self.name, records, best, model)

    def fitted(self, study: Any, data: Any, params: dict[str, Any]) -> Any:
        import hpsearch

        wrapper = (
            hpsearch.KerasClassifier if study.task == "classification" else hpsearch.KerasRegressor
        )
        build = {f"model__{k}": v for k, v in params.items() if k != "batch_size"}
        model = wrapper(
            model=hpsearch.build_model,
            epochs=study.epochs,
            verbose=0,
            random_state=study.seed,
            batch_size=params.get("batch_size", study.batch_size),
            **build,
        )
        return model.fit(data.x_train, data.y_train)


ENGINE = ToyEngine()
