"""Methods as data: a ``Recipe`` lists ``Stage``s, and ``RecipeRun`` executes them step by step."""
from dream3d.recipe.engine import RecipeRun
from dream3d.recipe.stage import CameraSchedule, Recipe, Stage

__all__ = ["CameraSchedule", "Recipe", "RecipeRun", "Stage"]
