"""The Chainer MNIST classifier of the Step Functions tutorial, as a SageMaker BYO image."""

import sys
import types

# Chainer's import runs an environment check that imports numpy.distutils, setuptools and pkg_resources (a scan of
# every installed distribution) to warn about Python 3.5.0, macOS's Accelerate and unpinned optional packages:
# none applies to this image's pinned set, and it was about 40 % of `import chainer`, which every serving worker
# and training job pays at start. The check is replaced by a no-op before Chainer is imported.
if "chainer" not in sys.modules:
    _no_check = types.ModuleType("chainer._environment_check")
    _no_check.check = lambda: None  # type: ignore[attr-defined]
    sys.modules.setdefault("chainer._environment_check", _no_check)
