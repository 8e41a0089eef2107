"""The model: hpsearch's MLP factory (`mlp.build_model`) and the scikit-learn wrappers
(`wrappers.KerasClassifier`, `KerasRegressor`). Both import Keras."""
