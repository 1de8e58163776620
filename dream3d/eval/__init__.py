"""Ground-truth evaluation of assets made with the bundled prior."""
from dream3d.eval.evaluate import EvalError, EvalResult, evaluate_mesh, evaluate_run

__all__ = ["EvalError", "EvalResult", "evaluate_mesh", "evaluate_run"]
