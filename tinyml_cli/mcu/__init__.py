"""MCU profiles: built-in YAML shipped with the package, user profile files, and budgets."""

from .profile import Budget, McuProfile, budget_for, list_profiles, load_profile

__all__ = ["Budget", "McuProfile", "budget_for", "list_profiles", "load_profile"]
