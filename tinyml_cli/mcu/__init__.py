"""MCU profiles: built-in YAML shipped with the package, user profile files, and the one resolver of
a command's (profile, budget)."""

from .profile import DEFAULT_MCU, Budget, McuProfile, budget_for, list_profiles, load_profile, resolve

__all__ = ["DEFAULT_MCU", "Budget", "McuProfile", "budget_for", "list_profiles", "load_profile", "resolve"]
