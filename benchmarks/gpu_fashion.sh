# The Fashion anchors benchmark on the lent GPU machine (device tool): run from the repo root
# there, with .whl/ (keras, namex, optree, keras-tuner, kt-legacy, scikeras, optuna, alembic,
# colorlog, mako, sqlalchemy wheels for Python 3.12) and .gpu/data/fashion-mnist/ carried.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site HPSEARCH_DATA_DIR=$PWD/.gpu/data XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
python3 -c "import sklearn, jax, keras, keras_tuner, optuna, scikeras; print('sklearn', sklearn.__version__, 'jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 370 python3 benchmarks/anchors.py fashion --anchor-backend jax --concurrently --keep /tmp/anc --json $OUT/anchors_fashion_gpu.json 2>&1 | grep -v -i "warning\|E0000\|W0000\|cuda_\|absl" | tee $OUT/anchors_fashion_gpu.txt
echo "exit ${PIPESTATUS[0]}"
find /tmp/anc -name trials.csv -o -name summary.csv -o -name anchor.json | head
for f in $(find /tmp/anc -name trials.csv | head -1) $(find /tmp/anc -name summary.csv | head -1) /tmp/anc/anchor.json; do cp $f $OUT/ 2>/dev/null; done
ls $OUT
