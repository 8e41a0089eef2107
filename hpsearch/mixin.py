"""`Mixin`: the base of our classes that are mixed into an untyped library's class (scikeras,
scikit-learn, Keras Tuner). For the type checker it is `Any`, so that what they call on the
library's side (`super().fit`, `self.model_`) is not reported as missing; at run time it is
`object`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    Mixin = Any
else:
    Mixin = object
