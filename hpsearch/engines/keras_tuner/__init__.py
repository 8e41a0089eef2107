"""The Keras Tuner engine and its chief/worker mode (`chief`). `engine` declares it."""
