"""Script mode: the images run users' own training scripts and serve their modules, as AWS's framework containers do."""

from sm_contract.script_mode.runner import Framework, run_builtin, run_user_script

__all__ = ["Framework", "run_builtin", "run_user_script"]
