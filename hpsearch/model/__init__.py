"""The model: hpsearch's MLP factory (`mlp.build_model`), where the engines get their models
(`factory`: the MLP or a study's own factory) and the scikit-learn wrappers
(`wrappers.KerasClassifier`, `KerasRegressor`). All import Keras."""
