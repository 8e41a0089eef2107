"""hpsearch/compat/: each private part of another library still has the shape hpsearch relies
on, each version guard says one line (or falls back), and nothing outside compat/ reaches
into a library's private names."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch import compat
from hpsearch.compat import CompatError

ROOT = Path(__file__).resolve().parents[1]


def params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


@pytest.fixture
def version_outside(monkeypatch: pytest.MonkeyPatch):
    """Pretend distribution `dist` is installed at `found`."""

    def pretend(dist: str, found: str) -> None:
        real = compat.version
        monkeypatch.setattr(compat, "version", lambda d: found if d == dist else real(d))

    return pretend


def one_line_error(check, dist: str, found: str, span: tuple[str, str]) -> None:
    with pytest.raises(CompatError) as info:
        check()
    message = str(info.value)
    assert "\n" not in message
    assert f"{dist} {found}" in message and f"{span[0]} to {span[1]}.x" in message


# -- the guard itself -----------------------------------------------------------------------


def test_the_installed_versions_are_supported() -> None:
    for info in pkgutil.iter_modules(compat.__path__):
        module = importlib.import_module(f"hpsearch.compat.{info.name}")
        if hasattr(module, "DIST"):
            assert compat.supported(module.DIST, module.SUPPORTED), module.DIST
        else:  # the standard library: Python's version
            assert module.in_range(), info.name


@pytest.mark.parametrize(
    ("found", "ok"),
    [("1.4.0", True), ("1.5.9rc1", True), ("1.3.9", False), ("1.6.0", False), ("2.0", False)],
)
def test_a_span_holds_every_patch_release_of_its_ends(found: str, ok: bool) -> None:
    assert compat.supported("x", ("1.4", "1.5"), found=found) is ok


def test_a_missing_library_is_outside_every_span(version_outside) -> None:
    version_outside("keras-tuner", None)
    from hpsearch.compat import keras_tuner

    with pytest.raises(CompatError, match=r"keras-tuner \(not installed\)"):
        keras_tuner.check()


# -- Keras Tuner ----------------------------------------------------------------------------


def test_keras_tuner_writes_every_state_file_through_utils_save_json() -> None:
    from keras_tuner.src import config, utils
    from keras_tuner.src.engine import stateful, tuner

    from hpsearch.compat import keras_tuner as kt

    assert params(utils.save_json) == ["path", "obj"]
    assert isinstance(config.DEBUG, bool)
    for module in (stateful, tuner):  # through the module attribute, which we replace
        assert "utils.save_json(" in inspect.getsource(module)
    original = utils.save_json

    def fake(path: str, obj: object) -> str:
        return ""

    with kt.patched_state(True, fake):
        assert utils.save_json is fake and config.DEBUG is True
    assert utils.save_json is original


def test_keras_tuner_oracle_service() -> None:
    from keras_tuner.src import protos

    from hpsearch.compat import keras_tuner as kt

    servicer = kt.oracle_servicer()
    assert params(servicer.__init__)[1:2] == ["oracle"]
    assert "self.stop_triggered" in inspect.getsource(servicer)
    for name in ("GetSpace", "UpdateSpace", "CreateTrial", "UpdateTrial", "EndTrial"):
        assert params(getattr(servicer, name)) == ["self", "request", "context"], name
    for name in ("GetTrial", "GetBestTrials"):
        assert params(getattr(servicer, name)) == ["self", "request", "context"], name
    assert callable(protos.get_service_grpc().add_OracleServicer_to_server)
    assert type(kt.end_trial_response()).__name__ == "EndTrialResponse"


def test_keras_tuner_oracle_lock_and_retry_queue() -> None:
    from keras_tuner.src.engine import oracle as oracle_module
    from keras_tuner.src.tuners.randomsearch import RandomSearchOracle

    from hpsearch.compat import keras_tuner as kt

    oracle = RandomSearchOracle(objective="val_loss", max_trials=1)
    assert kt.retry_queue(oracle) == [] and kt.retry_queue(oracle) is oracle._retry_queue

    @kt.synchronized
    def fails(oracle: object) -> None:
        raise RuntimeError

    with pytest.raises(RuntimeError):
        fails(oracle)
    lock = oracle_module.LOCKS[oracle]  # held: Keras Tuner does not release it on a raise
    assert not lock.acquire(blocking=False)
    kt.release_lock(oracle)
    assert oracle_module.THREADS[oracle] is None
    assert lock.acquire(blocking=False)
    lock.release()


def test_keras_tuner_client_timeout_and_hypermodel_seam() -> None:
    from keras_tuner.src.distribute import oracle_client
    from keras_tuner.src.engine.tuner import Tuner

    from hpsearch.compat import keras_tuner as kt

    before = oracle_client.TIMEOUT
    assert isinstance(before, int | float)
    assert kt.set_client_timeout(7) == before and oracle_client.TIMEOUT == 7
    kt.set_client_timeout(before)
    assert params(Tuner._build_hypermodel) == ["self", "hp"]  # overridden in tuner_engine


def test_keras_tuner_version_guard(version_outside) -> None:
    from hpsearch.compat import keras_tuner as kt

    version_outside("keras-tuner", "1.5.0")
    one_line_error(
        lambda: kt.patched_state(False, print).__enter__(), "keras-tuner", "1.5.0", kt.SUPPORTED
    )
    one_line_error(kt.oracle_servicer, "keras-tuner", "1.5.0", kt.SUPPORTED)
    one_line_error(lambda: kt.set_client_timeout(1), "keras-tuner", "1.5.0", kt.SUPPORTED)


# -- Optuna ---------------------------------------------------------------------------------


def test_optuna_storage_and_trial_ids() -> None:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.storages._heartbeat import is_heartbeat_enabled

    from hpsearch.compat import optuna as oc

    assert params(is_heartbeat_enabled) == ["storage"]
    assert params(BaseStorage.set_trial_state_values)[:3] == ["self", "trial_id", "state"]
    assert params(optuna.trial.Trial.__init__)[1:3] == ["study", "trial_id"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ostudy = optuna.create_study()
    ostudy.ask()
    ostudy.ask()
    frozen = ostudy.get_trials(deepcopy=False)[1]
    assert oc.heartbeat_enabled(ostudy) is False
    again = oc.live_trial(ostudy, frozen)
    assert again.number == frozen.number
    oc.fail_trial(ostudy, frozen)
    assert [t.state.name for t in ostudy.get_trials()] == ["RUNNING", "FAIL"]


def test_optuna_hyperband_filter_study() -> None:
    import optuna
    from optuna import pruners

    from hpsearch.compat import optuna as oc

    assert params(pruners._filter_study) == ["study", "trial"]
    ostudy = optuna.create_study(pruner=optuna.pruners.HyperbandPruner())
    ostudy.ask()
    frozen = ostudy.get_trials(deepcopy=False)[0]
    view = oc.pruner_view(ostudy, frozen)
    assert view is not ostudy and [t.number for t in view.get_trials()] == [0]


def test_optuna_version_guard(version_outside) -> None:
    import optuna

    from hpsearch.compat import optuna as oc

    ostudy = optuna.create_study(pruner=optuna.pruners.HyperbandPruner())
    ostudy.ask()
    version_outside("optuna", "6.0.1")
    one_line_error(lambda: oc.heartbeat_enabled(ostudy), "optuna", "6.0.1", oc.SUPPORTED)
    one_line_error(lambda: oc.live_trial(ostudy, ostudy.trials[0]), "optuna", "6.0.1", oc.SUPPORTED)
    assert oc.pruner_view(ostudy, ostudy.trials[0]) is ostudy  # the fallback: the whole study


# -- joblib's Dask backend ------------------------------------------------------------------


def test_joblib_dask_backend_seams() -> None:
    pytest.importorskip("distributed")
    from hpsearch.compat.joblib import DaskDistributedBackend as Backend

    assert inspect.iscoroutinefunction(Backend._to_func_args)
    assert params(Backend._to_func_args) == ["self", "func"]
    assert {"client", "scatter"} <= set(params(Backend.__init__))
    init, args = inspect.getsource(Backend.__init__), inspect.getsource(Backend._to_func_args)
    assert "self._scatter" in init and "self.data_futures" in init
    assert "self.data_futures.get(" in args and "call_data_futures" in args
    assert "call_data_futures" in inspect.getsource(Backend.start_call)
    assert "call_data_futures" in inspect.getsource(Backend.stop_call)


def test_joblib_version_guard(version_outside) -> None:
    pytest.importorskip("distributed")
    from hpsearch.compat import joblib as jc

    version_outside("joblib", "1.7.0")
    one_line_error(jc.check, "joblib", "1.7.0", jc.SUPPORTED)


def test_joblib_loky_worker_env_seam(monkeypatch, version_outside) -> None:
    from joblib._parallel_backends import LokyBackend

    from hpsearch.compat import joblib as jc

    assert params(LokyBackend._prepare_worker_env) == ["self", "n_jobs"]
    assert "_prepare_worker_env(" in inspect.getsource(LokyBackend.configure)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = jc.PinnedLokyBackend()._prepare_worker_env(n_jobs=2)
    assert env["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "1"
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")  # the user's own flags stay
    assert jc.PinnedLokyBackend()._prepare_worker_env(2)["XLA_FLAGS"] == (
        "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"
    )
    assert jc.pinned_loky() == jc.PINNED_LOKY
    version_outside("joblib", "1.7.0")
    assert jc.pinned_loky() is None  # the fallback: joblib's own loky workers


# -- the standard library -------------------------------------------------------------------


def test_stdlib_private_parts() -> None:
    import atexit
    import random
    import threading

    from hpsearch.compat import stdlib

    assert isinstance(random._inst, random.Random)  # type: ignore[attr-defined]
    assert random.random.__self__ is random._inst  # type: ignore[attr-defined]
    assert stdlib.shared_random() is random._inst  # type: ignore[attr-defined]
    assert params(threading._shutdown) == []  # type: ignore[attr-defined]
    assert callable(atexit._run_exitfuncs) and atexit._run_exitfuncs.__module__ == "atexit"


def test_stdlib_random_streams_per_thread() -> None:
    code = """
import random, threading
from hpsearch.compat import stdlib
stdlib.per_thread_random()
random.seed(1)
other = []
thread = threading.Thread(target=lambda: (random.seed(2), other.append(random.random())))
thread.start(); thread.join()
assert random.random() == random.Random(1).random()  # the other thread's seed left it alone
assert other == [random.Random(2).random()]
assert getattr(random.random, "__self__", None) is None  # rebound: not the shared instance
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_stdlib_falls_back_outside_its_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform
    import random

    from hpsearch.compat import stdlib

    monkeypatch.setattr(platform, "python_version", lambda: "3.99.0")
    assert not stdlib.in_range()
    assert stdlib.shared_random() is random._inst  # type: ignore[attr-defined]
    with pytest.raises(SystemExit) as info:  # the ordinary exit, not os._exit
        stdlib.exit_now(3)
    assert info.value.code == 3


# -- scikit-learn ---------------------------------------------------------------------------


def test_sklearn_search_seams() -> None:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV
    from sklearn.model_selection._search_successive_halving import BaseSuccessiveHalving

    for cls in (RandomizedSearchCV, HalvingRandomSearchCV):
        names = params(cls._run_search)
        assert names[:2] == ["self", "evaluate_candidates"], cls
        assert set(names) <= {"self", "evaluate_candidates", "callback_ctx"}, cls
    assert params(HalvingRandomSearchCV._generate_candidate_params) == ["self"]
    assert "self._generate_candidate_params()" in inspect.getsource(
        BaseSuccessiveHalving._run_search
    )
    # fit hands `_run_search` the callback context that run_search_kwargs passes on
    assert "callback_ctx" not in names or "callback_ctx=" in inspect.getsource(
        RandomizedSearchCV.fit
    )


def test_sklearn_version_guard(version_outside) -> None:
    from hpsearch.compat import sklearn as sc

    assert sc.run_search_kwargs(None) == {} and sc.run_search_kwargs(1) == {"callback_ctx": 1}
    version_outside("scikit-learn", "1.5.2")
    one_line_error(sc.check, "scikit-learn", "1.5.2", sc.SUPPORTED)


# -- scikeras -------------------------------------------------------------------------------


def test_scikeras_private_parts() -> None:
    from scikeras import wrappers

    import hpsearch.model.wrappers  # noqa: F401  (drops _more_tags)

    assert "def _more_tags" in inspect.getsource(wrappers)  # still there to drop
    assert "_more_tags" not in vars(wrappers.BaseWrapper)
    assert params(wrappers.BaseWrapper._validate_data) == ["self", "X", "y", "reset", "y_numeric"]
    assert params(wrappers.BaseWrapper._fit)[:3] == ["self", "X", "y"]


def test_scikeras_version_guard(version_outside) -> None:
    from hpsearch.compat import scikeras as sk

    version_outside("scikeras", "0.14.0")
    one_line_error(sk.check, "scikeras", "0.14.0", sk.SUPPORTED)


# -- uvicorn --------------------------------------------------------------------------------


def test_uvicorn_http_protocol() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from hpsearch.compat import uvicorn as uc

    assert params(HttpToolsProtocol.send_400_response) == ["self", "msg"]
    source = inspect.getsource(HttpToolsProtocol)
    assert "self.send_400_response(" in source  # how a parser error is answered
    assert "self.transport = " in source and "self.server_state = " in source
    assert isinstance(ServerState().default_headers, list)
    protocol = uc.answering_400(lambda msg, headers: b"")
    assert isinstance(protocol, type) and issubclass(protocol, HttpToolsProtocol)


def test_uvicorn_falls_back_outside_its_versions(version_outside) -> None:
    from hpsearch.compat import uvicorn as uc

    version_outside("uvicorn", "0.99.0")
    assert uc.answering_400(lambda msg, headers: b"") == "auto"


# -- the rule -------------------------------------------------------------------------------

PRIVATE = re.compile(
    r"from \w+\.src\b|import \w+\._|from [\w.]*\._\w+ import"
    r"|\._(inst|retry_queue|storage|trial_id|filter_study|more_tags|shutdown|run_exitfuncs)\b"
    r"|httptools_impl|oracle_module|\b(_to_func_args|call_data_futures|data_futures|_scatter)\b"
)


def test_nothing_outside_compat_reaches_into_private_names() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "hpsearch").rglob("*.py"))
        if "compat" not in path.relative_to(ROOT / "hpsearch").parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert found == []
